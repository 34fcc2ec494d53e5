"""Build the bundled 565-book reading list from Project Gutenberg's public-domain catalogue.

Usage: python scripts/build_reading_list.py CATALOG_CSV OUT_CSV

CATALOG_CSV is Project Gutenberg's pg_catalog.csv (or its first records), with
the columns Text#, Type, Issued, Title, Language, Authors, Subjects, LoCC and
Bookshelves. The output has the 24 columns of a current Goodreads library
export. Only facts the catalogue contains are filled in, so ISBNs, ratings, page
counts, original publication years and reading dates stay blank.
"""

import argparse
import csv
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

logger = logging.getLogger("build_reading_list")

BOOKS = 565

GOODREADS_HEADER = [
    "Book Id", "Title", "Author", "Author l-f", "Additional Authors", "ISBN", "ISBN13", "My Rating",
    "Average Rating", "Publisher", "Binding", "Number of Pages", "Year Published",
    "Original Publication Year", "Date Read", "Date Added", "Bookshelves", "Bookshelves with positions",
    "Exclusive Shelf", "My Review", "Spoiler", "Private Notes", "Read Count", "Owned Copies",
]  # fmt: skip

# Goodreads writes ISBNs as the spreadsheet formula ="..." and a missing one as ="".
BLANK_ISBN = '=""'

# Catalogue life dates after a name, such as ", 1832-1898", ", 1957-" or ", 621? BCE-565? BCE".
_YEAR = r"\d{1,4}\??(?: BCE| CE)?"
LIFE_DATES = re.compile(rf",\s*(?:active |approximately )?(?:{_YEAR}-(?:{_YEAR})?|-{_YEAR}|{_YEAR})$")
ROLE = re.compile(r"\s*\[[^\]]*\]$")  # "[Illustrator]", "[Editor]"
FULLER_FORM = re.compile(r"\s*\([^)]*\)")  # "J. M. (James Matthew)"
SUFFIXES = {"Jr.", "Sr.", "II", "III", "IV"}


def select_records(rows: Iterable[dict[str, str]], count: int) -> list[dict[str, str]]:
    """Return the first `count` English Text records that name an author, in catalogue order."""
    selected: list[dict[str, str]] = []
    for row in rows:
        if row["Type"] == "Text" and row["Language"] == "en" and row["Authors"].strip():
            selected.append(row)
        if len(selected) == count:
            return selected
    raise ValueError(f"{count} English Text records with an author are needed but the catalogue has {len(selected)}")


def split_catalogue_name(name: str) -> tuple[str, str]:
    """Return (First Last, Last, First) for a catalogue name such as "Barrie, J. M. (James Matthew), 1860-1937"."""
    name = LIFE_DATES.sub("", ROLE.sub("", name.strip()))
    name = FULLER_FORM.sub("", name).strip()
    parts = [part.strip() for part in name.split(",") if part.strip()]
    if len(parts) < 2:
        return name, name

    last, first = parts[0], " ".join(parts[1:])
    suffix = ""
    if len(parts) > 2 and parts[-1] in SUFFIXES:
        first, suffix = " ".join(parts[1:-1]), parts[-1]
    plain = " ".join(word for word in (first, last, suffix) if word)
    return plain, f"{last}, {first}"


def title_of(catalogue_title: str) -> str:
    """Join a catalogue title's lines (title, then subtitles) with ": "."""
    lines = [line.strip() for line in catalogue_title.splitlines() if line.strip()]
    title = lines[0]
    for line in lines[1:]:
        title += " " + line if title.endswith((":", ";")) else ": " + line
    return title


def shelf_names(bookshelves: str) -> list[str]:
    """Turn Gutenberg bookshelves into unique Goodreads-style shelf names ("Browsing: History - American" -> "history-american")."""
    names: list[str] = []
    for shelf in bookshelves.split(";"):
        shelf = shelf.strip().removeprefix("Browsing:").strip().lower().replace("'", "")
        name = re.sub(r"[^a-z0-9]+", "-", shelf).strip("-")
        if name and name not in names:
            names.append(name)
    return names


def goodreads_row(record: dict[str, str]) -> list[str]:
    """Return one Goodreads export row for a catalogue record."""
    authors = [author for author in record["Authors"].split(";") if author.strip()]
    author, author_lf = split_catalogue_name(authors[0])
    additional = ", ".join(split_catalogue_name(other)[0] for other in authors[1:])
    issued = record["Issued"]

    values = {
        "Book Id": record["Text#"],
        "Title": title_of(record["Title"]),
        "Author": author,
        "Author l-f": author_lf,
        "Additional Authors": additional,
        "ISBN": BLANK_ISBN,
        "ISBN13": BLANK_ISBN,
        "My Rating": "0",
        "Publisher": "Project Gutenberg",
        "Binding": "ebook",
        "Year Published": issued[:4],
        "Date Added": issued.replace("-", "/"),
        "Bookshelves": ", ".join(shelf_names(record["Bookshelves"])),
        "Exclusive Shelf": "to-read",
        "Read Count": "0",
    }
    return [values.get(column, "") for column in GOODREADS_HEADER]


def read_catalogue(path: Path) -> Iterator[dict[str, str]]:
    """Yield the catalogue's records as dicts keyed by its header."""
    with path.open(newline="", encoding="utf-8") as stream:
        yield from csv.DictReader(stream)


def write_reading_list(records: list[dict[str, str]], path: Path) -> None:
    """Write the records as a Goodreads export: LF line endings, fields quoted only where needed."""
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(GOODREADS_HEADER)
        writer.writerows(goodreads_row(record) for record in records)


def main(argv: list[str] | None = None) -> int:
    """Build OUT_CSV from CATALOG_CSV and log how many books it contains."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalog_csv", type=Path, help="Project Gutenberg catalogue CSV (pg_catalog.csv)")
    parser.add_argument("out_csv", type=Path, help="reading-list CSV to write")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    try:
        records = select_records(read_catalogue(arguments.catalog_csv), BOOKS)
    except OSError as error:
        parser.error(f"{arguments.catalog_csv}: cannot read the catalogue ({error.strerror})")
    except KeyError as error:
        parser.error(f"{arguments.catalog_csv}: the catalogue has no {error} column; pass Project Gutenberg's pg_catalog.csv")
    except ValueError as error:
        parser.error(f"{arguments.catalog_csv}: {error}")

    write_reading_list(records, arguments.out_csv)
    logger.info("wrote %d books to %s", len(records), arguments.out_csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
