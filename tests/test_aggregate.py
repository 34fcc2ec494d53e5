"""Tests for merge_results and aggregate_digest: exact summaries, order independence, duplicates."""

import hashlib
import itertools
import json
import random
from typing import Any

import pytest

from bench.books import load_reading_list
from variants.handlers.aggregate import aggregate_digest, merge_results
from variants.handlers.enrich import enrich_book

RESULTS = [
    {"id": 1, "isbn": "9780441172719", "isbn_status": "valid", "author_key": "herbert, frank", "decade": 1960,
     "pages": 896, "page_band": "500+", "shelf": "read", "rating": 5, "title_words": 3},
    {"id": 2, "isbn": "9780316508", "isbn_status": "invalid", "author_key": "herbert, frank", "decade": 1960,
     "pages": 150, "page_band": "100-199", "shelf": "read", "rating": 4, "title_words": 2},
    {"id": 3, "isbn_status": "missing", "author_key": "plato", "decade": -400, "shelf": "to-read", "title_words": 1},
    {"id": 4, "isbn_status": "missing", "shelf": "unshelved", "title_words": 1},
    {"id": 5, "isbn": "12", "isbn_status": "invalid", "author_key": "austen, jane", "decade": 1810,
     "pages": 40, "page_band": "<100", "shelf": "read", "rating": 2, "title_words": 2},
]  # fmt: skip


def test_merge_exact_summary() -> None:
    assert merge_results(RESULTS) == {
        "books": 5,
        "books_per_decade": {"-400": 1, "1810": 1, "1960": 2},
        "books_per_author": {"austen, jane": 1, "herbert, frank": 2, "plato": 1},
        "books_per_shelf": {"read": 3, "to-read": 1, "unshelved": 1},
        "books_per_page_band": {"100-199": 1, "500+": 1, "<100": 1},
        "total_pages": 1086,
        "books_with_pages": 3,
        "mean_rating": 3.6667,
        "isbn": {"invalid": 2, "missing": 2, "valid": 1},
        "invalid_isbn_ids": [2, 5],
    }


def test_merge_empty() -> None:
    assert merge_results([]) == {
        "books": 0,
        "books_per_decade": {},
        "books_per_author": {},
        "books_per_shelf": {},
        "books_per_page_band": {},
        "total_pages": 0,
        "books_with_pages": 0,
        "mean_rating": None,
        "isbn": {"invalid": 0, "missing": 0, "valid": 0},
        "invalid_isbn_ids": [],
    }


def test_merge_minimal_results() -> None:
    summary = merge_results([enrich_book({"id": 7, "title": "x"})])

    assert summary["books"] == 1
    assert summary["books_per_shelf"] == {"unshelved": 1}
    assert summary["isbn"] == {"invalid": 0, "missing": 1, "valid": 0}
    assert summary["mean_rating"] is None


def test_merge_duplicate_id_raises() -> None:
    with pytest.raises(ValueError, match="result id 2 appears twice; remove duplicate deliveries before merging"):
        merge_results([*RESULTS, dict(RESULTS[1])])


def test_merge_accepts_generator() -> None:
    assert merge_results(result for result in RESULTS) == merge_results(RESULTS)


def test_merge_order_independent() -> None:
    expected = aggregate_digest(merge_results(RESULTS))

    for order in itertools.permutations(RESULTS):
        assert aggregate_digest(merge_results(order)) == expected


def test_merge_bundled_shuffled_batches() -> None:
    results = [enrich_book(item) for item in load_reading_list().items]
    expected = aggregate_digest(merge_results(results))
    generator = random.Random(20261204)

    for batch_size in (1, 7, 10, 20, 565):
        shuffled = results[:]
        generator.shuffle(shuffled)
        batches = [shuffled[start : start + batch_size] for start in range(0, len(shuffled), batch_size)]
        generator.shuffle(batches)

        assert aggregate_digest(merge_results(itertools.chain.from_iterable(batches))) == expected


def test_merge_bundled_summary() -> None:
    summary = merge_results(enrich_book(item) for item in load_reading_list().items)

    assert summary["books"] == 565
    assert summary["books_per_decade"] == {"1970": 8, "1990": 391, "2000": 164, "2010": 2}
    assert summary["books_per_shelf"] == {"to-read": 565}
    assert summary["isbn"] == {"invalid": 0, "missing": 565, "valid": 0}
    assert summary["books_per_author"]["burroughs, edgar rice"] == 22
    assert summary["total_pages"] == 0
    assert summary["mean_rating"] is None


def test_digest_is_sha256_of_canonical_json() -> None:
    summary: dict[str, Any] = {"b": 1, "a": {"é": 2}}
    canonical = '{"a":{"é":2},"b":1}'.encode("utf-8")

    assert aggregate_digest(summary) == hashlib.sha256(canonical).hexdigest()


def test_digest_ignores_key_order() -> None:
    summary = merge_results(RESULTS)
    reordered = json.loads(json.dumps(summary, sort_keys=False))
    reversed_keys = {key: reordered[key] for key in reversed(list(reordered))}

    assert aggregate_digest(reversed_keys) == aggregate_digest(summary)


def test_digest_changes_with_content() -> None:
    assert aggregate_digest(merge_results(RESULTS)) != aggregate_digest(merge_results(RESULTS[:-1]))
