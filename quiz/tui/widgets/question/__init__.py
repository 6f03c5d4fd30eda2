"""Widgets for asking a question: the answer input for each kind, and the feedback panel."""
