"""The API reference as a reader gets it: the HTML that mkdocs builds from the docstrings.

`mkdocs build --strict` catches broken links, not docstrings that render
badly; this reads the built reference page back.  It builds the site itself,
so it needs the docs tools (``make docs`` installs them and runs it).
"""

from __future__ import annotations

import html.parser
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import unsync

pytest.importorskip("mkdocs", reason="the docs tools are installed by `make docs`")

ROOT = Path(__file__).parent.parent


class ApiEntries(html.parser.HTMLParser):
    """The text of each API entry's contents, and the text found outside code blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, str] = {}  # "unsync.Name" -> the text of its contents
        self.tags_in_entries: set[str] = set()
        self.prose: list[str] = []  # text outside <code> and <pre> inside the entries
        self._current: str | None = None
        self._depth = 0  # open <div>s inside the current entry's contents
        self._code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("h2", "h3", "h4") and (attributes.get("id") or "").startswith("unsync."):
            self._heading = attributes["id"]
        if tag == "div" and "doc-contents" in (attributes.get("class") or "").split() and self._current is None:
            self._current, self._depth = getattr(self, "_heading", None), 0
            if self._current is not None:
                self.entries.setdefault(self._current, "")
        if self._current is not None:
            self.tags_in_entries.add(tag)
            if tag == "div":
                self._depth += 1
            if tag in ("code", "pre"):
                self._code += 1

    def handle_endtag(self, tag: str) -> None:
        if self._current is None:
            return
        if tag in ("code", "pre"):
            self._code -= 1
        if tag == "div":
            self._depth -= 1
            if self._depth == 0:
                self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self.entries[self._current] += data
            if not self._code:
                self.prose.append(data)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> ApiEntries:
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        check=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    parser = ApiEntries()
    parser.feed((site / "reference" / "index.html").read_text())
    return parser


def test_every_public_name_has_an_entry_with_text(reference: ApiEntries) -> None:
    # `unsync.unsync` is also a submodule (1.4.0's import path), so the reference names the
    # decorator by the module that defines it.
    empty = [
        name
        for name in unsync.__all__
        if not (
            reference.entries.get(f"unsync.{name}") or reference.entries.get(f"unsync._decorator.{name}", "")
        ).strip()
    ]
    assert empty == []


def test_no_entry_renders_a_blockquote(reference: ApiEntries) -> None:
    # Unindented `>>>` lines become nested blockquotes in Markdown.
    assert "blockquote" not in reference.tags_in_entries


def test_examples_render_as_code(reference: ApiEntries) -> None:
    assert [text for text in reference.prose if ">>>" in text] == []


def test_no_restructuredtext_is_left(reference: ApiEntries) -> None:
    leftovers = [text for text in reference.prose if re.search(r"::\s*$", text) or "``" in text]
    assert leftovers == []
