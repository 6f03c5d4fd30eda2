"""Radio buttons and checkboxes whose mark is drawn only when they are on: Textual's draw the
same mark either way and tell on from off by colour alone, which a monochrome terminal (or
``NO_COLOR``) loses."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox, RadioButton


class MarkedRadioButton(RadioButton):
    def render(self) -> Content:
        self.BUTTON_INNER = RadioButton.BUTTON_INNER if self.value else " "
        return super().render()


class MarkedCheckbox(Checkbox):
    def render(self) -> Content:
        self.BUTTON_INNER = Checkbox.BUTTON_INNER if self.value else " "
        return super().render()
