"""Widgets grouped by area: common, question (answering), mock, progress, lab."""
