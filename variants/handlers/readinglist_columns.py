"""Goodreads export columns and the conversion of one CSV record into a compact book item."""

import logging
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .isbn import compact_isbn, isbn10_is_valid

logger = logging.getLogger(__name__)

# Zero-width space, byte-order mark, and the bidirectional marks, embeddings,
# overrides and isolates. They carry no meaning in ISBNs, numbers, dates, names
# or shelf names. ZWJ and ZWNJ are kept because they change how Persian and
# Indic script words are spelled.
INVISIBLE_MARKS = re.compile("[\u200b\ufeff\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
_WHITESPACE = re.compile(r"\s+")
_WHOLE_NUMBER = re.compile(r"([+-]?\d+)(?:\.0*)?")
_DECIMAL_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_EXCEL_SCIENTIFIC = re.compile(r"(\d)\.?(\d*)E\+?(\d+)", re.IGNORECASE)
_FORMULA_WRAPPED = re.compile(r'="(.*)"', re.DOTALL)


@dataclass(frozen=True)
class Column:
    """The item key and value conversion of one recognised CSV column."""

    key: str
    kind: str  # "title", "text", "isbn10", "isbn13", "int", "float" or "shelves"


# Header name (casefolded) -> item key and conversion, for the columns items carry.
COLUMNS: dict[str, Column] = {
    "title": Column("title", "title"),
    "author": Column("author", "text"),
    "author l-f": Column("author_lf", "text"),
    "additional authors": Column("additional_authors", "text"),
    "isbn": Column("isbn", "isbn10"),
    "isbn13": Column("isbn13", "isbn13"),
    "my rating": Column("my_rating", "int"),
    "average rating": Column("average_rating", "float"),
    "publisher": Column("publisher", "text"),
    "binding": Column("binding", "text"),
    "number of pages": Column("pages", "int"),
    "year published": Column("year", "int"),
    "original publication year": Column("original_year", "int"),
    "date read": Column("date_read", "text"),
    "date added": Column("date_added", "text"),
    "bookshelves": Column("shelves", "shelves"),
    "exclusive shelf": Column("exclusive_shelf", "text"),
    "read count": Column("read_count", "int"),
}

# Item keys after "id" and "title", in the order items list them.
ITEM_KEYS = tuple(column.key for column in COLUMNS.values())

# Every column name a Goodreads library export has had, casefolded. A first row
# with none of them is data, not a header.
GOODREADS_HEADER_NAMES = frozenset(COLUMNS) | {
    "book id",
    "bookshelves with positions",
    "my review",
    "spoiler",
    "private notes",
    "owned copies",
    "recommended for",
    "recommended by",
    "original purchase date",
    "original purchase location",
    "condition",
    "condition description",
    "bcid",
}

# The full header line of each Goodreads export layout, by its column count.
_LAYOUT_24 = (
    "Book Id,Title,Author,Author l-f,Additional Authors,ISBN,ISBN13,My Rating,Average Rating,"
    "Publisher,Binding,Number of Pages,Year Published,Original Publication Year,Date Read,"
    "Date Added,Bookshelves,Bookshelves with positions,Exclusive Shelf,My Review,Spoiler,"
    "Private Notes,Read Count,Owned Copies"
)
GOODREADS_LAYOUTS: dict[int, str] = {
    24: _LAYOUT_24,
    23: _LAYOUT_24.replace("Average Rating,", ""),
    19: _LAYOUT_24.split(",My Review")[0],
    31: _LAYOUT_24.replace(
        "Read Count,Owned Copies",
        "Read Count,Recommended For,Recommended By,Owned Copies,Original Purchase Date,"
        "Original Purchase Location,Condition,Condition Description,BCID",
    ),
}


class InvalidValue(ValueError):
    """A cell whose value does not fit its column; the caller adds the line number."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def strip_invisible(value: str) -> str:
    """Return `value` without zero-width and bidirectional marks and without surrounding whitespace."""
    return INVISIBLE_MARKS.sub("", value).strip()


def normalise_header(name: str) -> str:
    """Return a header name as looked up in COLUMNS: marks removed, whitespace collapsed, casefolded."""
    return _WHITESPACE.sub(" ", strip_invisible(name)).casefold()


def convert_record(record_id: int, cells: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Convert one record into an item with only its non-empty fields; My Rating 0 counts as empty.

    `cells` maps each recognised header name (casefolded) to the header as
    written in the file and the raw cell. Raises InvalidValue naming the column.
    """
    title_header, raw_title = cells["title"]
    title = raw_title.strip()
    if not strip_invisible(title):
        raise InvalidValue(title_header, f"'{title_header}' is empty; every book needs a title")

    item: dict[str, Any] = {"id": record_id, "title": title}
    for name, column in COLUMNS.items():
        if column.kind == "title" or name not in cells:
            continue
        header, raw = cells[name]
        value = _convert_cell(column.kind, header, raw)

        # Goodreads writes My Rating 0 for a book the reader has not rated.
        if value is None or (column.key == "my_rating" and value == 0):
            continue
        item[column.key] = value
    return item


def _convert_cell(kind: str, header: str, raw: str) -> Any:
    value = strip_invisible(raw)
    if not value:
        return None
    if kind == "text":
        return value
    if kind == "int":
        return _whole_number(header, value)
    if kind == "float":
        return _decimal_number(header, value)
    if kind == "shelves":
        return [shelf for shelf in (strip_invisible(part) for part in value.split(",")) if shelf] or None
    if kind == "isbn10":
        return _isbn10(value)
    return _isbn13(value)


def _whole_number(header: str, value: str) -> int:
    # Spreadsheets re-save whole numbers as "320.0", so only a zero fraction is accepted.
    match = _WHOLE_NUMBER.fullmatch(value)
    if match is None:
        raise InvalidValue(header, f"'{header}' is {value!r}, expected a whole number; correct it or leave it blank")
    return int(match.group(1))


def _decimal_number(header: str, value: str) -> float:
    if _DECIMAL_NUMBER.fullmatch(value) is None:
        raise InvalidValue(header, f"'{header}' is {value!r}, expected a number such as 4.25; correct it or leave it blank")
    return float(value)


def _unwrap(value: str) -> str:
    # Goodreads writes ISBNs as the spreadsheet formula ="0441172717" to keep leading zeros.
    match = _FORMULA_WRAPPED.fullmatch(value)
    return compact_isbn(match.group(1) if match else value)


def _isbn10(value: str) -> str | None:
    isbn = _unwrap(value)

    # A spreadsheet re-save reads the ISBN as a number and drops its leading zeros
    # ("0545424984" -> "545424984"). Pad back only when that gives a valid check digit.
    if isbn.isdigit() and 7 <= len(isbn) <= 9:
        padded = isbn.zfill(10)
        if isbn10_is_valid(padded):
            return padded
    return isbn or None


def _isbn13(value: str) -> str | None:
    isbn = _unwrap(value)
    match = _EXCEL_SCIENTIFIC.fullmatch(isbn)
    if match is None:
        return isbn or None

    # A spreadsheet re-save may show an ISBN-13 as "9.78E+12". The digits it
    # rounded away are lost, so keep the number only when all 13 digits survive.
    digits = match.group(1) + match.group(2)
    try:
        number = Decimal(isbn)
    except InvalidOperation:
        return isbn
    if len(digits) >= 13 and number == number.to_integral_value() and len(str(int(number))) == 13:
        return str(int(number))
    logger.debug("ISBN13 %r lost digits to scientific notation; treated as blank", isbn)
    return None
