"""Types flow through the decorator; run mypy on this file to see them."""

from typing import assert_type

from unsync import Unfuture, unsync


@unsync
async def parse(text: str) -> int:
    return int(text)


if __name__ == "__main__":
    answer = parse("42")
    assert_type(answer, Unfuture[int])  # mypy checks this; at run time it is a no-op
    print(answer.result() + 1)
