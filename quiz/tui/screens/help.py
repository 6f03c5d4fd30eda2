"""The help screen: what each screen is for and its keys."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# latency-quiz — keys

| where | key | does |
|---|---|---|
| anywhere | `?` / `F1` | this help |
| anywhere | `ctrl+p` | command palette (practice, mock, progress, practicals…) |
| anywhere | `ctrl+q` (`q` outside a text field) | quit (answers are already saved) |
| anywhere | `escape` | back |
| home | `p` `d` `m` `r` `g` `l` | practice, due reviews, mock, resume mock, progress, practicals |
| home | `b` `t` | question browser, study plan |
| question | `A`–`Z` or `1`–`9` | pick an option (choice) or toggle it (select all that apply) |
| question | `↑` `↓` `space` | move through options and pick / toggle |
| order question | `A`–`I` | put that step next: typing `C` `A` `B` orders C, A, B |
| order question | `↑` `↓` | pick a step (marked ▶) |
| order question | `[` `]` or `shift+↑` `shift+↓` | move the picked step up / down |
| question | `enter` / `ctrl+s` | submit (`ctrl+s` in a free-text answer) |
| question (practice) | `ctrl+g` | I don't know: shows the answer, rated Again |
| feedback | `n` / `enter` | next question |
| round summary | `r` `escape` | retry my misses, home |
| feedback (free text) | `1` `2` `3` `4` | rate your recall: Again, Hard, Good, Easy |
| mock | `ctrl+s` / `enter` | submit and go to the next question (skip a practical) |
| mock | `ctrl+f` | finish early (asks first; questions not reached score 0) |
| mock practical | `e` `x` `g` | edit here, open in $EDITOR, grade and submit (on the clock) |
| mock report | `↑` `↓` | walk through every answer |
| practical | `h` `w` `e` `x` `g` | next hint, create workspace, edit here, $EDITOR, grade |
| editor | `ctrl+s` `ctrl+o` `ctrl+r` `ctrl+g` | save, next file, run solution.py, submit |
| browser | `/` `f` `s` `c` `enter` | search, flag, suspend, clear filters, practise |

**Practice** shows feedback after each answer. **Mock interviews** are timed by the wall clock
(time away counts, unless started in practice mode), give no feedback until the end, are saved
after every answer and can be resumed from the home screen.
Numbers take a unit (`2 GiB`, `350 ms`); without one they are read in the unit shown. Work it out
in the box if you like: `(0.9*80 GiB - 16 GB)/(2*128 KiB/token)`, `150 ms + 799*25 ms`.
"""


class HelpScreen(ModalScreen[None]):
    """Keys and screens, one table."""

    BINDINGS = [Binding("escape,question_mark,f1", "dismiss", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)
