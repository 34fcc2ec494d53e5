"""The aggregator step: merge per-book results into one summary and fingerprint it."""

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

ISBN_STATUSES = ("valid", "invalid", "missing")


def merge_results(results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Merge enrich_book results into one summary that does not depend on their order.

    The per-field counts ("books_per_decade", "books_per_author",
    "books_per_shelf", "books_per_page_band") count only the books that have
    that field. Merging the same results in any order, or as batches chained
    together, gives an equal summary with keys in sorted order. Raises
    ValueError when one `id` appears twice, because a duplicate delivery would
    be counted twice; the caller removes duplicates first.
    """
    seen: set[int] = set()
    decades: Counter[int] = Counter()
    authors: Counter[str] = Counter()
    shelves: Counter[str] = Counter()
    page_bands: Counter[str] = Counter()
    isbn: Counter[str] = Counter({status: 0 for status in ISBN_STATUSES})
    invalid_isbn_ids: list[int] = []
    total_pages = books_with_pages = rating_sum = rating_count = 0

    for result in results:
        book_id = result["id"]
        if book_id in seen:
            raise ValueError(f"result id {book_id} appears twice; remove duplicate deliveries before merging")
        seen.add(book_id)

        _count(decades, result.get("decade"))
        _count(authors, result.get("author_key"))
        _count(shelves, result.get("shelf"))
        _count(page_bands, result.get("page_band"))

        status = result.get("isbn_status", "missing")
        isbn[status] += 1
        if status == "invalid":
            invalid_isbn_ids.append(book_id)

        if "pages" in result:
            total_pages += result["pages"]
            books_with_pages += 1
        if "rating" in result:
            rating_sum += result["rating"]
            rating_count += 1

    return {
        "books": len(seen),
        "books_per_decade": {str(decade): decades[decade] for decade in sorted(decades)},
        "books_per_author": _sorted_counts(authors),
        "books_per_shelf": _sorted_counts(shelves),
        "books_per_page_band": _sorted_counts(page_bands),
        "total_pages": total_pages,
        "books_with_pages": books_with_pages,
        "mean_rating": round(rating_sum / rating_count, 4) if rating_count else None,
        "isbn": _sorted_counts(isbn),
        "invalid_isbn_ids": sorted(invalid_isbn_ids),
    }


def aggregate_digest(summary: dict[str, Any]) -> str:
    """Return the SHA-256 hex digest of the summary's canonical JSON (sorted keys, compact, UTF-8)."""
    canonical = json.dumps(summary, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _count(counter: Counter[Any], value: Any) -> None:
    if value is not None:
        counter[value] += 1


def _sorted_counts(counter: Counter[str]) -> dict[str, int]:
    return {key: counter[key] for key in sorted(counter)}
