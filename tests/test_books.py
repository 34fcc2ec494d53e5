"""Tests for load_reading_list: the bundled list, real exports and every input error as InputError."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.books import BUNDLED_SOURCE, ReadingList, load_reading_list
from bench.cli import app
from bench.errors import InputError
from variants.handlers.enrich import enrich_book
from variants.handlers.readinglist_columns import GOODREADS_LAYOUTS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_FILE = PROJECT_ROOT / "bench" / "data" / "reading_list.csv"

# A Step Functions state's input is at most 262,144 bytes (AWS Step Functions API
# reference, "StateEnteredEventDetails"), so the bundled list keeps room to spare.
PAYLOAD_BUDGET_BYTES = 200_000


def compact_json_size(value: object) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def load_error(path: Path | None = None, limit: int | None = None) -> str:
    with pytest.raises(InputError) as caught:
        load_reading_list(path, limit=limit)
    return str(caught.value)


def write(tmp_path: Path, content: bytes, name: str = "books.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


# Bundled list


def test_bundled_list_has_565_books() -> None:
    reading_list = load_reading_list()

    assert isinstance(reading_list, ReadingList)
    assert reading_list.rows == 565
    assert len(reading_list.items) == 565
    assert reading_list.source == BUNDLED_SOURCE
    assert reading_list.size_bytes == BUNDLED_FILE.stat().st_size
    assert reading_list.sha256 == hashlib.sha256(BUNDLED_FILE.read_bytes()).hexdigest()


def test_bundled_list_goodreads_layout() -> None:
    lines = BUNDLED_FILE.read_bytes().split(b"\n")

    assert lines[0].decode("utf-8") == GOODREADS_LAYOUTS[24]
    assert b"\r" not in BUNDLED_FILE.read_bytes()
    assert lines[-1] == b""
    assert len(lines) == 567
    assert lines[1].startswith(b'1,The Declaration of Independence of the United States of America,Thomas Jefferson,')
    assert b',"=""""","=""""",0,,Project Gutenberg,ebook,,1971,,,1971/12/01,' in lines[1]


def test_bundled_list_items() -> None:
    items = load_reading_list().items

    assert items[0] == {
        "id": 1,
        "title": "The Declaration of Independence of the United States of America",
        "author": "Thomas Jefferson",
        "author_lf": "Jefferson, Thomas",
        "publisher": "Project Gutenberg",
        "binding": "ebook",
        "year": 1971,
        "date_added": "1971/12/01",
        "shelves": ["politics", "american-revolutionary-war", "united-states-law", "history-american", "history-warfare"],
        "exclusive_shelf": "to-read",
        "read_count": 0,
    }
    assert items[1]["title"] == (
        "The United States Bill of Rights: The Ten Original Amendments to the Constitution of the United States"
    )
    assert items[13]["author"] == "J. M. Barrie"
    assert all("isbn" not in item and "pages" not in item for item in items)


def test_bundled_list_rebuilds_identically(shared_data: Path, tmp_path: Path) -> None:
    catalogue = shared_data / "gutenberg" / "pg_catalog_head.csv"
    rebuilt = tmp_path / "reading_list.csv"

    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "build_reading_list.py"), str(catalogue), str(rebuilt)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == f"wrote 565 books to {rebuilt}\n"
    assert rebuilt.read_bytes() == BUNDLED_FILE.read_bytes()


def test_bundled_items_json_size() -> None:
    size = compact_json_size(load_reading_list().items)

    print(f"bundled items JSON: {size} bytes")
    assert size < PAYLOAD_BUDGET_BYTES


def test_bundled_enriched_json_size() -> None:
    results = [enrich_book(item) for item in load_reading_list().items]
    size = compact_json_size(results)

    print(f"bundled enriched results JSON: {size} bytes")
    assert size < PAYLOAD_BUDGET_BYTES


def test_limit_keeps_first_books() -> None:
    full = load_reading_list()
    limited = load_reading_list(limit=40)

    assert limited.rows == 40
    assert limited.items == full.items[:40]
    assert limited.sha256 == full.sha256
    assert limited.size_bytes == full.size_bytes


def test_limit_equal_to_rows() -> None:
    assert load_reading_list(limit=565).rows == 565


def test_limit_below_one() -> None:
    assert load_error(limit=0) == "the number of books to use is 0; expected 1 or more"


def test_limit_above_rows() -> None:
    message = load_error(limit=566)

    assert message == "bundled:reading_list.csv: 566 books requested but the file has only 565; request 565 or fewer"


# Real exports


def test_real_exports_load(shared_data: Path) -> None:
    manifest = json.loads((shared_data / "goodreads" / "manifest.json").read_text(encoding="utf-8"))

    for entry in manifest:
        path = shared_data / entry["file"]
        if "headerless" in path.name:
            continue
        reading_list = load_reading_list(path)
        assert reading_list.rows == entry["records"], path.name
        assert reading_list.size_bytes == entry["bytes"], path.name
        assert reading_list.source == str(path)


def test_real_headerless_export_error(shared_data: Path) -> None:
    path = shared_data / "goodreads" / "01_beatrizopdd_headerless_excel.csv"

    message = load_error(path)

    assert message.startswith(f"{path} line 1: the header row is missing: the first line holds a book")
    assert message.endswith(f"add this header line at the top: {GOODREADS_LAYOUTS[24]}")


def test_real_headerless_export_through_cli(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "goodreads" / "01_beatrizopdd_headerless_excel.csv"

    outcome = CliRunner().invoke(app, ["run", "--all", "--input", str(path), "--output-dir", str(tmp_path)])

    assert outcome.exit_code == 2
    assert outcome.output.startswith(f"error: {path} line 1: the header row is missing")
    assert "Traceback" not in outcome.output
    assert list(tmp_path.iterdir()) == []


# Input errors


def test_error_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"

    assert load_error(path) == f"{path}: no such file; pass the path of a reading-list CSV, such as a Goodreads library export"


def test_error_folder(tmp_path: Path) -> None:
    assert load_error(tmp_path) == f"{tmp_path}: is a folder; pass the path of a reading-list CSV file inside it"


def test_error_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, b"Title\nDune\n")

    # Root reads a file whatever its permission bits, so the denied read is simulated.
    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)

    assert load_error(path) == f"{path}: cannot read the file (Permission denied); check its permissions"


def test_error_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, b"")

    assert load_error(path) == f"{path}: the file is empty (0 bytes); expected a header row and one row per book"


def test_error_blank_file(tmp_path: Path) -> None:
    path = write(tmp_path, b"\n\n")

    assert load_error(path) == f"{path}: the file is empty; expected a header row and one row per book"


def test_error_binary(tmp_path: Path) -> None:
    path = write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", name="cover.png")

    assert load_error(path) == f"{path}: the file contains binary data (NUL bytes), not CSV text; export the list as CSV"


def test_error_not_csv(tmp_path: Path) -> None:
    path = write(tmp_path, b"Title\tAuthor\nDune\tFrank Herbert\n", name="books.tsv")

    message = load_error(path)

    assert message == f"{path} line 1: the first line has no commas, so this is not a comma-separated file; export the list as CSV"


def test_error_no_title_column(tmp_path: Path) -> None:
    path = write(tmp_path, b"Author,Year Published\nTolkien,1954\n")

    message = load_error(path)

    assert message == (
        f"{path} line 1: no 'Title' column; the header row has 'Author', 'Year Published'; "
        "name the book-title column 'Title'"
    )


def test_error_header_only(tmp_path: Path) -> None:
    path = write(tmp_path, GOODREADS_LAYOUTS[24].encode("utf-8") + b"\n")

    assert load_error(path) == f"{path}: the file has a header row but no books; add at least one row below the header"


def test_error_missing_header_row(tmp_path: Path) -> None:
    path = write(tmp_path, b"Dune,Frank Herbert,896\nEmma,Jane Austen,474\n")

    message = load_error(path)

    assert message.startswith(f"{path} line 1: the header row is missing: the first line has none of the expected")
    assert message.endswith("add a header row with at least a 'Title' column")


def test_error_bad_numeric_field(tmp_path: Path) -> None:
    good_rows = "".join(f"Book {number},{number}\n" for number in range(10))
    path = write(tmp_path, f"Title,Number of Pages\n{good_rows}Bad,abc\n".encode("utf-8"))

    message = load_error(path)

    assert message == f"{path} line 12: 'Number of Pages' is 'abc', expected a whole number; correct it or leave it blank"


def test_error_broken_quoting(tmp_path: Path) -> None:
    path = write(tmp_path, b"Title,Author,Number of Pages\nDune,F,1\nBlue Lily, Lily Blue,Maggie Stiefvater,391\n")

    message = load_error(path)

    assert message.startswith(f"{path} line 3: the record has 4 fields but the header has 3")


def test_error_has_no_traceback_chain(tmp_path: Path) -> None:
    path = write(tmp_path, b"Title,My Rating\nDune,five\n")

    with pytest.raises(InputError) as caught:
        load_reading_list(path)

    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True
    assert caught.value.exit_code == 2
