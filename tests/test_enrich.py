"""Tests for enrich_book and the ISBN check-digit functions, on real ISBNs and real exports."""

from collections import Counter
from pathlib import Path

import pytest

from variants.handlers.enrich import (
    enrich_book,
    isbn10_is_valid,
    isbn10_to_isbn13,
    isbn13_is_valid,
    split_author,
)
from variants.handlers.readinglist import parse_reading_list

# (ISBN-10, ISBN-13) pairs printed on real books: Dune (Ace), Raintree County
# (Penguin), Deepstep Come Shining (Copper Canyon), The Raven King (Scholastic),
# Airport in Russian (AST).
REAL_ISBNS = [
    ("0441172717", "9780441172719"),
    ("014023666X", "9780140236668"),
    ("155659092X", "9781556590924"),
    ("0545424984", "9780545424981"),
    ("5170245661", "9785170245666"),
]


# ISBN functions


@pytest.mark.parametrize(("isbn10", "isbn13"), REAL_ISBNS)
def test_isbn_real_pairs(isbn10: str, isbn13: str) -> None:
    assert isbn10_is_valid(isbn10)
    assert isbn13_is_valid(isbn13)
    assert isbn10_to_isbn13(isbn10) == isbn13


@pytest.mark.parametrize(
    "isbn",
    ["0441172718", "014023666x", "0140236660", "044117271", "04411727170", "X441172717", "044117271Y", "٠441172717", ""],
)
def test_isbn10_invalid(isbn: str) -> None:
    assert not isbn10_is_valid(isbn)


@pytest.mark.parametrize(
    "isbn",
    ["9780441172710", "978044117271", "97804411727190", "978044117271X", "9.78E+12", "٩780441172719", ""],
)
def test_isbn13_invalid(isbn: str) -> None:
    assert not isbn13_is_valid(isbn)


def test_isbn10_to_isbn13_rejects_invalid() -> None:
    with pytest.raises(ValueError, match="'0441172718' is not a valid ISBN-10"):
        isbn10_to_isbn13("0441172718")


# enrich_book


def test_enrich_minimal_item() -> None:
    assert enrich_book({"id": 7, "title": "x"}) == {
        "id": 7,
        "isbn_status": "missing",
        "shelf": "unshelved",
        "title_words": 1,
    }


def test_enrich_full_item() -> None:
    item = {
        "id": 3,
        "title": "Dune (Dune, #1)",
        "author": "Frank Herbert",
        "author_lf": "Herbert, Frank",
        "isbn": "0441172717",
        "isbn13": "9780441172719",
        "my_rating": 5,
        "average_rating": 4.27,
        "pages": 896,
        "year": 1990,
        "original_year": 1965,
        "shelves": ["sci-fi", "favourites"],
        "exclusive_shelf": "read",
        "read_count": 2,
    }

    assert enrich_book(item) == {
        "id": 3,
        "isbn": "9780441172719",
        "isbn_status": "valid",
        "author_last": "Herbert",
        "author_first": "Frank",
        "author_key": "herbert, frank",
        "decade": 1960,
        "pages": 896,
        "page_band": "500+",
        "shelf": "read",
        "shelves": ["sci-fi", "favourites"],
        "rating": 5,
        "title_words": 3,
    }


def test_enrich_isbn_prefers_valid_isbn13() -> None:
    result = enrich_book({"id": 1, "title": "t", "isbn": "0140236660", "isbn13": "9780441172719"})

    assert result["isbn"] == "9780441172719"
    assert result["isbn_status"] == "valid"


def test_enrich_isbn_converts_isbn10() -> None:
    result = enrich_book({"id": 1, "title": "t", "isbn": "014023666X"})

    assert result["isbn"] == "9780140236668"
    assert result["isbn_status"] == "valid"


def test_enrich_isbn_falls_back_to_isbn10() -> None:
    result = enrich_book({"id": 1, "title": "t", "isbn": "0441172717", "isbn13": "9780441172"})

    assert result["isbn"] == "9780441172719"
    assert result["isbn_status"] == "valid"


def test_enrich_isbn_invalid_keeps_value() -> None:
    result = enrich_book({"id": 1, "title": "t", "isbn": "385534635", "isbn13": "9780316508"})

    assert result["isbn"] == "9780316508"
    assert result["isbn_status"] == "invalid"


def test_enrich_isbn13_in_isbn10_column() -> None:
    result = enrich_book({"id": 1, "title": "t", "isbn": "978-0-441-17271-9"})

    assert result["isbn"] == "9780441172719"
    assert result["isbn_status"] == "valid"


@pytest.mark.parametrize(
    ("author_lf", "author", "expected"),
    [
        ("Carroll, Lewis, 1832-1898", None, ("Carroll", "Lewis", "carroll, lewis")),
        ("Raymond, Eric S., 1957-", None, ("Raymond", "Eric S.", "raymond, eric s.")),
        ("Aesop, 621? BCE-565? BCE", None, ("Aesop", None, "aesop")),
        ("Homer", "Homer", ("Homer", None, "homer")),
        ("United States. Congress", None, ("United States. Congress", None, "united states. congress")),
        (None, "Stephen        King", ("King", "Stephen", "king, stephen")),
        (None, "Martin Luther King Jr.", ("King Jr.", "Martin Luther", "king jr., martin luther")),
        ("Jr., Ross Lockridge", "Ross Lockridge Jr.", ("Lockridge Jr.", "Ross", "lockridge jr., ross")),
        ("Лукьяненко, Сергей", "Сергей Лукьяненко", ("Лукьяненко", "Сергей", "лукьяненко, сергей")),
        ("Müller,\u200b  Straße ", None, ("Müller", "Straße", "müller, strasse")),
        ("Clarke, J.M.", "J.M.     Clarke", ("Clarke", "J.M.", "clarke, j.m.")),
    ],
)
def test_split_author(author_lf: str | None, author: str | None, expected: tuple[str, str | None, str]) -> None:
    last, first, key = expected

    names = split_author(author_lf, author)

    assert names.get("author_last") == last
    assert names.get("author_first") == first
    assert names.get("author_key") == key


def test_split_author_missing() -> None:
    assert split_author(None, None) == {}
    assert split_author("", "") == {}


@pytest.mark.parametrize(
    ("years", "decade"),
    [
        ({"original_year": 1865, "year": 2009}, 1860),
        ({"year": 2009}, 2000),
        ({"original_year": -400}, -400),
        ({"original_year": -401}, -410),
        ({"original_year": 5}, 0),
    ],
)
def test_enrich_decade(years: dict[str, int], decade: int) -> None:
    assert enrich_book({"id": 1, "title": "t", **years})["decade"] == decade


def test_enrich_decade_absent_without_year() -> None:
    assert "decade" not in enrich_book({"id": 1, "title": "t"})


@pytest.mark.parametrize(
    ("pages", "band"),
    [(1, "<100"), (99, "<100"), (100, "100-199"), (199, "100-199"), (200, "200-299"), (299, "200-299"),
     (300, "300-499"), (499, "300-499"), (500, "500+"), (1088, "500+")],
)  # fmt: skip
def test_enrich_page_band(pages: int, band: str) -> None:
    result = enrich_book({"id": 1, "title": "t", "pages": pages})

    assert result["page_band"] == band
    assert result["pages"] == pages


def test_enrich_zero_pages_absent() -> None:
    result = enrich_book({"id": 1, "title": "t", "pages": 0})

    assert "pages" not in result
    assert "page_band" not in result


def test_enrich_rating_only_when_rated() -> None:
    assert "rating" not in enrich_book({"id": 1, "title": "t", "my_rating": 0})
    assert enrich_book({"id": 1, "title": "t", "my_rating": 3})["rating"] == 3


@pytest.mark.parametrize(
    ("title", "words"),
    [
        ("A \u200bCourt of Silver Flames", 5),
        ("チェンソーマン 9 [Chainsaw Man 9]", 5),
        ("\u202bرجال ريا وسكينة \u202c", 3),
        ("  Emma  ", 1),
    ],
)
def test_enrich_title_words(title: str, words: int) -> None:
    assert enrich_book({"id": 1, "title": title})["title_words"] == words


def test_enrich_does_not_modify_item() -> None:
    item = {"id": 1, "title": "t", "shelves": ["a"]}

    result = enrich_book(item)
    result["shelves"].append("b")

    assert item == {"id": 1, "title": "t", "shelves": ["a"]}


def test_enrich_real_export_isbn_statuses(shared_data: Path) -> None:
    path = next((shared_data / "goodreads").glob("07_*.csv"))

    results = [enrich_book(item) for item in parse_reading_list(path.read_bytes())]
    statuses = Counter(result["isbn_status"] for result in results)

    assert statuses["valid"] == 282
    assert statuses["invalid"] == 31
    assert statuses["missing"] == 168
    assert results[0]["isbn"] == "9770920462"


def test_enrich_real_spreadsheet_resave(shared_data: Path) -> None:
    path = next((shared_data / "goodreads").glob("06_*.csv"))

    results = [enrich_book(item) for item in parse_reading_list(path.read_bytes())]
    statuses = Counter(result["isbn_status"] for result in results)

    assert results[3]["isbn"] == "9780735223714"
    assert statuses["valid"] == 402
    assert statuses["invalid"] == 1
    assert statuses["missing"] == 77
