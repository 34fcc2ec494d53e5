"""Speed of `bench compare` over many result files. Target on a 2-core machine:

- 1,000 result files (one variant each, 5 repetitions of 100 one-item invocations, about 50 KB per file)
  loaded and compared, baseline column and cost table included, within 2 s in process.
"""

import json
from pathlib import Path

import pytest
from result_fixtures import inline_map_repetition

from bench.compare_output import compare_results
from bench.results import build_document, write_result
from variants import VARIANTS, get_variant

FILE_COUNT = 1000


@pytest.fixture(scope="module")
def thousand_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a folder of FILE_COUNT result files, the five variants in turn."""
    folder = tmp_path_factory.mktemp("results")
    templates = {}
    for name in VARIANTS:
        repetitions = [
            inline_map_repetition(index, 100, 1.0, 40, aggregator_s=0.3 + index * 0.01, variant=name) for index in range(5)
        ]
        templates[name] = build_document(
            run_id="template",
            backend="sim",
            region="us-east-1",
            parameters={"workload": {"work_seconds": 1.0}, "rules": {"account_concurrency": 1000}},
            input_info={"source": "bundled:reading_list.csv", "items": 100, "sha256": "a" * 64},
            variant_runs=[
                {"variant": get_variant(name).to_dict(), "repetitions": [repetition.to_dict() for repetition in repetitions]}
            ],
        )

    names = list(VARIANTS)
    for number in range(FILE_COUNT):
        document = json.loads(json.dumps(templates[names[number % len(names)]]))
        document["run_id"] = f"20261204T000000Z-{number:06d}"
        write_result(document, folder)
    return folder


def test_compare_thousand_files(benchmark, thousand_files: Path) -> None:
    output = benchmark.pedantic(
        compare_results,
        args=([thousand_files],),
        kwargs={"baseline": "per-book", "cost": True},
        rounds=3,
        iterations=1,
    )

    assert "per-book" in output.text
