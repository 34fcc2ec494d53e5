"""Parse a reading list (a Goodreads library export or any CSV with a Title column) into book items.

Items are compact JSON-ready dicts because they travel in Step Functions
payloads: a state's input is at most 262,144 bytes of UTF-8 (AWS Step
Functions API reference, "StateEnteredEventDetails"). Each item has `id` (the 1-based record
number) and `title`, plus only the non-empty ones of the keys in
readinglist_columns.ITEM_KEYS.
"""

import csv
import io
import itertools
from collections.abc import Iterator
from typing import Any

from .readinglist_columns import (
    COLUMNS,
    GOODREADS_HEADER_NAMES,
    GOODREADS_LAYOUTS,
    InvalidValue,
    convert_record,
    normalise_header,
)

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_CONTROL_CHARACTERS = frozenset(chr(code) for code in range(32)) - {"\t", "\n", "\r"}

# Row = (1-based physical line where the record starts, its cells).
Row = tuple[int, list[str]]


class ReadingListError(ValueError):
    """A reading list that cannot be parsed, with a message that names the problem and the fix.

    str(error) reads "line 12: 'Number of Pages' is 'abc', expected a whole
    number; ..." and leaves the file name to the caller.
    """

    def __init__(self, reason: str, line: int | None = None, field: str | None = None) -> None:
        self.reason = reason
        self.line = line
        self.field = field
        super().__init__(f"line {line}: {reason}" if line is not None else reason)


def parse_reading_list(data: bytes) -> list[dict[str, Any]]:
    """Parse the raw bytes of a CSV reading list into items, one per non-blank record.

    Raises ReadingListError for binary data, a file that is not CSV, a missing
    header row or Title column, a file without records, an unparseable record
    and a value that does not fit its column.
    """
    text = decode_reading_list(data)
    rows = _read_rows(text)

    header_line, header = _first_row(rows)
    columns = _map_header(header, header_line)

    items: list[dict[str, Any]] = []
    last_line = header_line
    for line, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        _check_width(cells, header, line)
        items.append(_convert(len(items) + 1, cells, columns, line))
        last_line = line

    if not items:
        raise ReadingListError("the file has a header row but no books; add at least one row below the header")
    _check_closed_quotes(text, last_line, header)
    return items


def decode_reading_list(data: bytes) -> str:
    """Decode UTF-8 (with or without a byte-order mark), falling back to cp1252; reject binary data."""
    if data.startswith(_UTF16_BOMS):
        raise ReadingListError("the file is UTF-16 text; save it as CSV UTF-8 (comma-separated) and try again")
    if b"\x00" in data:
        raise ReadingListError("the file contains binary data (NUL bytes), not CSV text; export the list as CSV")

    try:
        text = data.removeprefix(_UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise ReadingListError("the file is neither UTF-8 nor cp1252 text; export the list as CSV UTF-8") from None

    sample = text[:8192]
    if sum(character in _CONTROL_CHARACTERS for character in sample) > max(1, len(sample) // 100):
        raise ReadingListError("the file contains binary data (control characters), not CSV text; export the list as CSV")
    if not text.strip():
        raise ReadingListError("the file is empty; expected a header row and one row per book")
    return text


def _read_rows(text: str) -> Iterator[Row]:
    # skipinitialspace lets csv see the quotes of space-padded fields in
    # column-aligned files ('  "Jr., Ross"'). Every cell is stripped later anyway.
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ReadingListError(
                f"cannot parse the record that starts here ({error}); check that every quoted field is closed",
                line=start,
            ) from None
        yield start, cells


def _first_row(rows: Iterator[Row]) -> Row:
    for line, cells in rows:
        if any(cell.strip() for cell in cells):
            return line, cells
    raise ReadingListError("the file is empty; expected a header row and one row per book")


def _map_header(header: list[str], line: int) -> dict[str, tuple[int, str]]:
    """Return recognised header name (casefolded) -> (cell index, header as written)."""
    names = [normalise_header(cell) for cell in header]
    if not GOODREADS_HEADER_NAMES.intersection(names):
        raise ReadingListError(_missing_header_reason(header), line=line)

    columns: dict[str, tuple[int, str]] = {}
    for index, name in enumerate(names):
        if name not in COLUMNS:
            continue
        written = header[index].strip()
        if name in columns:
            raise ReadingListError(f"the column '{written}' appears twice in the header row; remove or rename one", line=line)
        columns[name] = (index, written)

    if "title" not in columns:
        header_names = ", ".join(repr(cell.strip()) for cell in header)
        raise ReadingListError(f"no 'Title' column; the header row has {header_names}; name the book-title column 'Title'", line=line)
    return columns


def _missing_header_reason(header: list[str]) -> str:
    if len(header) == 1:
        return "the first line has no commas, so this is not a comma-separated file; export the list as CSV"
    layout = GOODREADS_LAYOUTS.get(len(header))
    if layout is not None:
        return (
            f"the header row is missing: the first line holds a book, not column names; it has {len(header)} "
            f"fields like a Goodreads export, so add this header line at the top: {layout}"
        )
    return (
        "the header row is missing: the first line has none of the expected column names "
        "(Title, Author, ISBN, ISBN13, Number of Pages, ...); add a header row with at least a 'Title' column"
    )


def _check_width(cells: list[str], header: list[str], line: int) -> None:
    # Fewer cells than the header mean blank trailing fields. More non-blank cells mean
    # a field with a comma lost its quotes, which shifts every later value.
    extra = [cell.strip() for cell in cells[len(header) :]]
    if not any(extra):
        return
    last = header[-1].strip()
    extra_values = ", ".join(repr(cell) for cell in extra if cell)
    raise ReadingListError(
        f"the record has {len(cells)} fields but the header has {len(header)}: {extra_values} come after the last "
        f"column '{last}'; a field that contains a comma is probably missing its quotes",
        line=line,
        field=last,
    )


def _convert(record_id: int, cells: list[str], columns: dict[str, tuple[int, str]], line: int) -> dict[str, Any]:
    values = {name: (written, cells[index] if index < len(cells) else "") for name, (index, written) in columns.items()}
    try:
        return convert_record(record_id, values)
    except InvalidValue as error:
        raise ReadingListError(error.reason, line=line, field=error.field) from None


def _check_closed_quotes(text: str, last_line: int, header: list[str]) -> None:
    """Raise when the last record opens a quoted field that is never closed.

    csv in its default, non-strict mode then reads the rest of the file into that
    field without an error, so the last record is scanned again with the same rules.
    """
    tail = "".join(itertools.islice(io.StringIO(text, newline=""), last_line - 1, None))
    if "\n" not in tail.rstrip("\r\n") and "\r" not in tail.rstrip("\r\n"):
        return

    field_count, inside_quotes = _scan_quotes(tail)
    if inside_quotes:
        name = header[min(field_count, len(header)) - 1].strip()
        raise ReadingListError(
            f"the quoted field '{name}' opens in the record that starts here and is never closed, so the rest "
            "of the file was read into it; add the missing '\"'",
            line=last_line,
            field=name,
        )


def _scan_quotes(record: str) -> tuple[int, bool]:
    """Return (fields started, still inside quotes at the end) for one CSV record and what follows."""
    fields, state = 1, "start"
    for character in record:
        if state == "start" and character == " ":
            continue
        if state == "start":
            state = "quoted" if character == '"' else "plain"
        elif state == "quoted":
            state = "quote" if character == '"' else "quoted"
        elif state == "quote":
            state = "quoted" if character == '"' else "plain"
        if state in ("plain", "quote") and character in ",\r\n":
            fields += character == ","
            state = "start"
    return fields, state == "quoted"
