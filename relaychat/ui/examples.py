"""Example questions that show the relay well on the demo pair (F12 and the command palette).

Short multi-step arithmetic and algebra problems: the demo's large model reasons for a few sentences
and writes the connectives its calibrated cues react to, so a live demo sees the models hand over.
Each was picked from twelve candidates for switching at least 4 times in all of 3 relayed samples
(docs/demo-pair.md has the numbers).
"""

from __future__ import annotations

EXAMPLES: tuple[str, ...] = (
    "Tom has 5 boxes with 6 apples each. He gives away 7 apples and eats 3. How many apples are left?",
    "Solve for $x$: $5x - 9 = 2x + 12$.",
    "A car uses 8 litres of fuel per 100 km. How much fuel does it need for 350 km,"
    " and what does that cost at $2 per litre?",
    "What is 15% of 240, and what is 240 minus that amount?",
    "Anna reads 12 pages a day. How many days does she need for a 150-page book?",
    "A train travels 60 km in 1.5 hours. What is its average speed in km/h?",
)
