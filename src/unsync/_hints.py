"""Notes on errors whose cause unsync can see better than the library that raised them."""

from __future__ import annotations

from types import TracebackType

TRIO_OUTSIDE_TRIO = "must be called from async context"

TRIO_ON_ASYNCIO_NOTE = (
    "unsync runs this coroutine on its ambient asyncio loop, where trio's functions cannot run. "
    'Call unsync.use_backend("trio") before the first call to run coroutines on trio, '
    "or use anyio's functions (anyio.sleep, anyio.create_task_group, ...), which run on both."
)


def note_trio_on_asyncio(error: BaseException) -> None:
    """Explain trio's "must be called from async context" raised in a call on the asyncio loop."""
    if type(error) is RuntimeError and str(error) == TRIO_OUTSIDE_TRIO and raised_in_trio(error.__traceback__):
        error.add_note(TRIO_ON_ASYNCIO_NOTE)


def raised_in_trio(traceback: TracebackType | None) -> bool:
    innermost = None
    while traceback is not None:
        innermost, traceback = traceback, traceback.tb_next
    module = "" if innermost is None else innermost.tb_frame.f_globals.get("__name__", "")
    return module == "trio" or module.startswith("trio.")
