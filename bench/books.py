"""Load the reading list a run fans out: a CSV file given by the user or the bundled sample."""

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bench.errors import InputError
from variants.handlers.readinglist import ReadingListError, parse_reading_list

logger = logging.getLogger(__name__)

BUNDLED_NAME = "reading_list.csv"
BUNDLED_SOURCE = f"bundled:{BUNDLED_NAME}"


@dataclass(frozen=True)
class ReadingList:
    """A parsed reading list with the facts a result file records about its input."""

    source: str  # the file's path, or "bundled:reading_list.csv"
    items: list[dict[str, Any]]
    sha256: str  # of the raw file bytes
    size_bytes: int

    @property
    def rows(self) -> int:
        """Number of books (items) in the list."""
        return len(self.items)


def load_reading_list(path: Path | None = None, limit: int | None = None) -> ReadingList:
    """Read and parse a reading list; `path` None reads the bundled 565-book list.

    `limit` keeps the first N books. Every problem with the file or the limit is
    raised as InputError naming the file, the line and field where known, and the fix.
    """
    if limit is not None and limit < 1:
        raise InputError(f"the number of books to use is {limit}; expected 1 or more")

    source, data = _read_bytes(path)
    try:
        items = parse_reading_list(data)
    except ReadingListError as error:
        location = f"{source} line {error.line}" if error.line is not None else source
        raise InputError(f"{location}: {error.reason}") from None

    if limit is not None:
        if limit > len(items):
            raise InputError(
                f"{source}: {limit} books requested but the file has only {len(items)}; request {len(items)} or fewer"
            )
        items = items[:limit]

    logger.info("read %d books from %s (%d bytes)", len(items), source, len(data))
    return ReadingList(source=source, items=items, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def _read_bytes(path: Path | None) -> tuple[str, bytes]:
    if path is None:
        return BUNDLED_SOURCE, (resources.files("bench") / "data" / BUNDLED_NAME).read_bytes()

    if not path.exists():
        raise InputError(f"{path}: no such file; pass the path of a reading-list CSV, such as a Goodreads library export")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; pass the path of a reading-list CSV file inside it")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read the file ({error.strerror}); check its permissions") from None
    if not data:
        raise InputError(f"{path}: the file is empty (0 bytes); expected a header row and one row per book")
    return str(path), data
