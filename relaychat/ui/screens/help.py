"""F1: the keys, and how to read the screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# RelayChat keys

| key | does |
|---|---|
| **Enter** | send the question (the conversation so far goes with it) |
| **Esc** | cancel the running generation or replay (the servers stop generating) |
| **F1** | this help |
| **F2** | next mode: relay → large only → small only |
| **F3** | pick the model-pair profile |
| **F4** | turn cues on or off, or load a cue-set file (for the next generation) |
| **F5** | replay a saved trace, no server needed |
| **+ / -** | replay faster / slower |
| **F6** | export the transcript (HTML with colours, and JSONL) |
| **F7** | project the speedup onto a GPU pair's costs (the "projected on" line), or turn it off |
| **F8** | race the last relay turn against the large model alone, side by side |
| **F9** | ask an example question that shows the relay well on the demo pair |
| **Ctrl+P** | every command, searchable (themes too) |
| **Ctrl+Q** | quit (what was started is stopped; history is already saved) |

# Reading the screen

- Reasoning text is coloured by the model that wrote it: the **large** and the **small** model's colours
  come from the theme. The **underlined** word is the cue after which the small model took over.
- The **answer** follows the reasoning, rendered as Markdown, edged in its writer's colour.
- **margin p1−p2**: how sure the writing model is about each token (1 = certain), one bar per token.
- **speedup**: this generation's tokens at the large model's decode rate vs the wall time so far;
  *bound 1/share* is what a free small model could give at most. With a target (F7), *projected on*
  is this run's structure (who wrote how many tokens, where it switched) through that GPU pair's
  measured costs, and its bound with free switches.
- **cue hits**: each cue that fired, tokens the small model wrote after it, their mean margin.
  Click a header to sort.
- Sessions are saved as they happen in the data folder (`sessions/`), one trace per generation.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Markdown(HELP)
