"""The progress report: its sections, real embedded charts, and Markdown."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from quiz.errors import UsageError
from quiz.store import Store
from quiz.study.report import SECTIONS, write_report
from tests.test_study_support import T0, build_history, fresh_store, tiny_bank

BANK = tiny_bank()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def store(db_url: str) -> Store:
    opened = fresh_store(db_url, BANK)
    build_history(opened, BANK)
    return opened


def embedded_pngs(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


def test_the_html_report_has_its_sections_and_real_embedded_charts(
    store: Store, tmp_path: Path
) -> None:
    path = write_report(store, BANK, tmp_path / "report.html", now=T0)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for key, title in SECTIONS.items():
        assert f'<section id="{key}"><h2>{title}</h2>' in text
    images = embedded_pngs(text)
    assert len(images) == 4  # mastery, accuracy, review heatmap, weakest topics
    assert all(png.startswith(PNG_MAGIC) and len(png) > 5000 for png in images)
    assert not re.search(r'(src|href)="(?!data:)', text)  # self-contained: nothing fetched
    assert "Test CPU 9000 (cpu, torch 2.13.0)" in text  # the practical's device stamp
    mocks = text.split('<section id="mocks">')[1].split("</section>")[0]
    assert re.search(r"<td>L2</td>.*<td>(strong hire|hire|lean no hire|no hire)</td>", mocks)
    weakest = text.split('<section id="weakest">')[1].split("</section>")[0]
    assert "<td>quantization</td>" in weakest  # every c-choice answer was wrong


def test_the_markdown_report_has_the_same_sections(store: Store, tmp_path: Path) -> None:
    text = write_report(store, BANK, tmp_path / "report.md", now=T0).read_text(encoding="utf-8")
    for title in SECTIONS.values():
        assert f"\n## {title}\n" in text
    assert "| Foundations |" in text
    assert "serve-and-profile | workspace | passed" in text


def test_an_empty_history_still_makes_a_report(db_url: str, tmp_path: Path) -> None:
    store = fresh_store(db_url, BANK)
    text = write_report(store, BANK, tmp_path / "r.html", now=T0).read_text(encoding="utf-8")
    assert len(embedded_pngs(text)) == 4 and "No mock interview yet." in text


def test_an_unknown_suffix_is_a_usage_error(store: Store, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"\.html or \.md"):
        write_report(store, BANK, tmp_path / "report.pdf")
