"""Grouping items into the units one worker invocation receives (stdlib only)."""

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def make_batches(items: Sequence[T], batch_size: int) -> list[list[T]]:
    """Split `items` into consecutive batches of at most `batch_size`, keeping their order."""
    if batch_size < 1:
        raise ValueError(f"batch size is {batch_size}; expected 1 or more")
    return [list(items[start : start + batch_size]) for start in range(0, len(items), batch_size)]
