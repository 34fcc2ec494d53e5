"""A generated Goodreads export whose books, as compact JSON, exceed Step Functions' 256 KiB payload quota."""

import csv
import io
from pathlib import Path

# Step Functions caps the input and output of an execution, state or task at 262,144 bytes
# of UTF-8 JSON. Source: AWS Step Functions developer guide, Step Functions service quotas.
PAYLOAD_QUOTA_BYTES = 262_144
LARGE_BOOKS = 300

HEADER = [
    "Book Id", "Title", "Author", "Author l-f", "Additional Authors", "ISBN", "ISBN13", "My Rating",
    "Average Rating", "Publisher", "Binding", "Number of Pages", "Year Published", "Original Publication Year",
    "Date Read", "Date Added", "Bookshelves", "Bookshelves with positions", "Exclusive Shelf", "My Review",
    "Spoiler", "Private Notes", "Read Count", "Owned Copies",
]
# Multi-byte UTF-8, a CSV quote and comma, and U+2028 and U+0085, which str.splitlines
# treats as line breaks but JSON Lines keeps inside a line.
TITLE_PHRASE = 'Ærøskøbing, "Œuvres complètes" \u2028 tome \u0085 '
SHELVES = ("read", "to-read", "currently-reading")
VALID_ISBN13 = "9780306406157"
INVALID_ISBN13 = "9780306406158"


def long_title(book: int) -> str:
    """Return a title of about 1,000 characters that is unique to `book`."""
    return f"Book {book}: " + TITLE_PHRASE * 25


def large_reading_list_csv(books: int = LARGE_BOOKS) -> bytes:
    """Return a Goodreads CSV export of `books` generated books with long titles, as UTF-8."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for book in range(1, books + 1):
        isbn13 = ""
        if book % 3 == 0:
            isbn13 = VALID_ISBN13
        elif book % 5 == 0:
            isbn13 = INVALID_ISBN13
        row = {
            "Book Id": str(book),
            "Title": long_title(book),
            "Author": f"Author {book % 37}",
            "Author l-f": f"{book % 37}, Author",
            "ISBN13": f'="{isbn13}"',
            "My Rating": str(book % 6),
            "Number of Pages": str(50 + book * 7 % 900),
            "Year Published": str(1900 + book % 120),
            "Date Added": "2024/01/15",
            "Bookshelves": "fiction, classics",
            "Exclusive Shelf": SHELVES[book % 3],
            "Read Count": "1",
        }
        writer.writerow([row.get(column, "") for column in HEADER])
    return buffer.getvalue().encode("utf-8")


def write_large_reading_list(path: Path, books: int = LARGE_BOOKS) -> Path:
    """Write large_reading_list_csv(books) to `path` and return the path."""
    path.write_bytes(large_reading_list_csv(books))
    return path
