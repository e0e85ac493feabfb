"""Example questions that show the relay well on the demo pair (F12 and the command palette).

Short multi-step arithmetic word problems: the demo's large model reasons for a few sentences and
writes the connectives its calibrated cues react to, so a live demo sees the models hand over.
"""

from __future__ import annotations

EXAMPLES: tuple[str, ...] = (
    "A shop sells pencils at 3 for $1. How much do 24 pencils cost, and how much change is left from $10?",
    "Tom has 5 boxes with 6 apples each. He gives away 7 apples and eats 3. How many apples are left?",
    "A train travels 60 km in 1.5 hours. What is its average speed in km/h?",
    "What is 15% of 240, and what is 240 minus that amount?",
    "Anna reads 12 pages a day. How many days does she need for a 150-page book?",
    "A rectangle is 7 cm by 12 cm. What are its area and its perimeter?",
)
