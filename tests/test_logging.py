"""The library logs through the "unsync" logger only, never prints."""

from __future__ import annotations

import gc
import re
from pathlib import Path

import pytest

from unsync import Unfuture


def test_an_unretrieved_exception_is_logged_once_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    def failed() -> None:
        future: Unfuture[None] = Unfuture()
        try:
            raise KeyError("lost")
        except KeyError as exc:
            future.set_exception(exc)

    with caplog.at_level("ERROR", logger="unsync"):
        failed()
        gc.collect()
    records = [r for r in caplog.records if r.name == "unsync"]
    assert len(records) == 1
    assert "never retrieved" in records[0].getMessage()
    assert records[0].exc_info is not None and records[0].exc_info[0] is KeyError


def test_a_retrieved_exception_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("ERROR", logger="unsync"):
        future: Unfuture[None] = Unfuture()
        future.set_exception(KeyError("seen"))
        assert isinstance(future.exception(), KeyError)
        del future
        gc.collect()
    assert not [r for r in caplog.records if r.name == "unsync"]


def test_the_library_never_prints() -> None:
    source = Path(__file__).parent.parent / "src" / "unsync"
    printing = [
        p.name for p in source.glob("*.py") if p.name != "__main__.py" and re.search(r"\bprint\(", p.read_text())
    ]
    assert printing == []
