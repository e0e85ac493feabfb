"""F1: the keys, and how to read the screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Markdown

HELP = """\
# RelayChat keys

| key | does |
|---|---|
| **Enter** | send the question (the conversation so far goes with it) |
| **Ctrl+J** or **Alt+Enter** | a new line in the question (a pasted question keeps all its lines) |
| **Esc** | cancel the running generation or replay (the servers stop generating) |
| **PageUp / PageDown** | scroll the transcript, from the prompt |
| **Ctrl+Home / Ctrl+End** | top / bottom of the transcript (Home / End too while the prompt is empty) |
| **Tab / Shift+Tab** | move focus (prompt, transcript, cue table); typing always lands in the prompt |
| **F1** | this help (↑ ↓ PageUp PageDown scroll it; Esc closes) |
| **F2** | next mode: relay → large only → small only |
| **F3** | pick the model-pair profile |
| **F4** | turn cues on or off, or load a cue-set file (for the next generation) |
| **F5** | replay a saved trace, no server needed (replays are not part of the conversation) |
| **+ / -** | replay faster / slower |
| **F6** | export the transcript (HTML with colours, and JSONL); the banner says where |
| **F7** | show / hide the side panels (hidden at first below 100 columns) |
| **F8** | token budget of the next generation |
| **F9** | copy the last answer to the clipboard |
| **F10** | race the last relay turn against the large model alone, side by side |
| **F11** | project the speedup onto a GPU pair's costs (the "projected on" line), or turn it off |
| **F12** | ask an example question that shows the relay well on the demo pair |
| **Ctrl+N** | new conversation: later questions go without the earlier turns |
| **Ctrl+R** | restart the servers RelayChat started that stopped answering |
| **s / r** | in the cue table: sort by the next column / reverse |
| **Ctrl+P** | every command, searchable (themes too) |
| **Ctrl+Q** | quit (servers RelayChat started are stopped, both at once; history is already saved) |

# Reading the screen

- Reasoning text is coloured by the model that wrote it: the **large** and the **small** model's colours
  come from the theme. The **underlined** word is the cue after which the small model took over.
- The **answer** follows the reasoning, rendered as Markdown, edged in its writer's colour. A line
  **stopped at the budget** (or at the context window) means the answer was cut, not finished.
- **sureness p(top) − p(2nd)**: the probability of the chosen token minus the runner-up's, one bar per
  token on a 0-1 axis (1 = certain).
- **speedup · estimate**: this generation's tokens at the large model's decode rate vs the wall time;
  *at most* = 1 ÷ large share, what a free small model could give. Shown in relay mode only. With a
  target (F11), *projected on* is this run's structure (who wrote how many tokens, where it switched)
  through that GPU pair's measured costs, and its bound with free switches.
- **cue hits**: each cue that fired, tokens the small model wrote after it (→small), their mean margin.
- **servers**: health, model, rate and time to first token; *weights bf16, KV block 32* is the dtype the
  server runs in and its KV-cache block size.
- Sessions are saved as they happen in the data folder (`sessions/`), one trace per generation.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="help-scroll"):
            yield Markdown(HELP)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()  # ↑ ↓ PageUp PageDown scroll without a mouse
