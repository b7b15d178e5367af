"""The same decorated coroutine under asyncio, uvloop and trio."""

import sniffio

import unsync
from unsync import unsync as run_unsynced


@run_unsynced
async def which_library() -> str:
    return sniffio.current_async_library()


if __name__ == "__main__":
    for backend, options in [("asyncio", {}), ("asyncio", {"use_uvloop": True}), ("trio", {})]:
        unsync.shutdown()
        unsync.use_backend(backend, **options)
        label = "uvloop" if options else backend
        print(label, which_library().result())
