"""The per-book worker step: derive the normalised fields the aggregator groups by."""

import re
from typing import Any

from .isbn import compact_isbn, isbn10_is_valid, isbn10_to_isbn13, isbn13_is_valid
from .readinglist_columns import INVISIBLE_MARKS

__all__ = ["enrich_book", "isbn10_is_valid", "isbn10_to_isbn13", "isbn13_is_valid", "split_author"]

_WHITESPACE = re.compile(r"\s+")

# Catalogue-style life dates after a name: ", 1832-1898", ", 1743?-1826",
# ", -1898", ", 1900-", ", 384 BCE-322 BCE", ", active 1200".
_YEAR = r"\d{1,4}\??(?:\s*(?:BCE|BC|CE|AD))?"
_LIFE_DATES = re.compile(
    rf",\s*(?:(?:active|fl\.|approximately|ca\.|born|died)\s*)?(?:{_YEAR}\s*-\s*(?:{_YEAR})?|-\s*{_YEAR}|{_YEAR})\s*$",
    re.IGNORECASE,
)
_NAME_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})

# Upper bound (exclusive) of each page band, in pages.
_PAGE_BANDS = ((100, "<100"), (200, "100-199"), (300, "200-299"), (500, "300-499"))


def enrich_book(item: dict[str, Any]) -> dict[str, Any]:
    """Return the compact per-book result for one reading-list item; omit fields without a value.

    Only `id` and `title` are required, so {"id": 7, "title": "x"} is a valid item.
    """
    result: dict[str, Any] = {"id": item["id"]}
    result.update(normalise_isbn(item.get("isbn13"), item.get("isbn")))
    result.update(split_author(item.get("author_lf"), item.get("author")))

    year = item.get("original_year", item.get("year"))
    if year is not None:
        result["decade"] = year // 10 * 10

    pages = item.get("pages")
    if pages is not None and pages > 0:
        result["pages"] = pages
        result["page_band"] = page_band(pages)

    result["shelf"] = item.get("exclusive_shelf") or "unshelved"
    if item.get("shelves"):
        result["shelves"] = list(item["shelves"])
    if item.get("my_rating", 0) > 0:
        result["rating"] = item["my_rating"]

    # Titles split on whitespace, so a CJK title without spaces counts as one word.
    result["title_words"] = len(INVISIBLE_MARKS.sub("", item["title"]).split())
    return result


def normalise_isbn(isbn13: str | None, isbn10: str | None) -> dict[str, str]:
    """Return {"isbn": ISBN-13, "isbn_status": ...}, preferring a valid ISBN-13 over a converted ISBN-10.

    The status is "valid" when either value passes its check digit, "invalid"
    when a value is present but none passes (the first value present is kept),
    and "missing" when both are blank.
    """
    candidates = [compact_isbn(value) for value in (isbn13, isbn10) if value]
    for candidate in candidates:
        if isbn13_is_valid(candidate):
            return {"isbn": candidate, "isbn_status": "valid"}
        if isbn10_is_valid(candidate):
            return {"isbn": isbn10_to_isbn13(candidate), "isbn_status": "valid"}
    if candidates:
        return {"isbn": candidates[0], "isbn_status": "invalid"}
    return {"isbn_status": "missing"}


def split_author(author_lf: str | None, author: str | None) -> dict[str, str]:
    """Return author_last, author_first and author_key ("last, first" casefolded) for one book.

    "Last, First" (Goodreads' Author l-f) is preferred; otherwise "First Last" is
    split at its last word, keeping a suffix such as "Jr." with the last name.
    An Author l-f without a comma ("Homer", "United States. Congress") is all last name.
    Life dates such as ", 1832-1898" are removed first. Returns {} without an author.
    """
    lf_last, comma, lf_first = _clean_name(author_lf or "").partition(",")

    # Goodreads files "Ross Lockridge Jr." as "Jr., Ross Lockridge", so such a
    # name is split from the "First Last" form instead.
    if comma and lf_last.strip().casefold() in _NAME_SUFFIXES and author:
        first, last = _split_first_last(_clean_name(author))
    elif author_lf:
        last, first = lf_last, lf_first
    elif author:
        first, last = _split_first_last(_clean_name(author))
    else:
        return {}

    last, first = last.strip(), first.strip()
    if not last:
        return {}

    names = {"author_last": last, "author_key": last.casefold()}
    if first:
        names["author_first"] = first
        names["author_key"] = f"{last}, {first}".casefold()
    return names


def page_band(pages: int) -> str:
    """Return the page band that a page count falls into, from "<100" to "500+"."""
    for upper, band in _PAGE_BANDS:
        if pages < upper:
            return band
    return "500+"


def _clean_name(name: str) -> str:
    collapsed = _WHITESPACE.sub(" ", INVISIBLE_MARKS.sub("", name)).strip()
    return _LIFE_DATES.sub("", collapsed).strip()


def _split_first_last(name: str) -> tuple[str, str]:
    words = name.split(" ")
    if len(words) > 2 and words[-1].casefold() in _NAME_SUFFIXES:
        return " ".join(words[:-2]), " ".join(words[-2:])
    return " ".join(words[:-1]), words[-1]
