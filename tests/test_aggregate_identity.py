"""The first correctness invariant: every variant produces the same aggregate for the same input."""

import json
from pathlib import Path

import pytest

from bench.books import load_reading_list
from bench.errors import InputError
from bench.sim import AwsRules, simulate
from bench.workload import Workload
from variants import VARIANTS

MANIFEST_FILES = [
    "02_advokatb_cyrillic_23col.csv",
    "03_aaronj1335_column_aligned.csv",
    "04_daghif_japanese.csv",
    "05_annakapanadze_19col_crlf_georgian.csv",
    "06_asbn15_excel_isodates_crlf.csv",
    "07_ahmgeek_arabic_bidi_31col.csv",
    "08_20iuh20hug_bom_crlf_mojibake.csv",
    "09_argv1_german_31col.csv",
    "10_drkenreid_crlf_27col_largest.csv",
    "11_ruvas20_most_rows.csv",
    "12_barryallen_hangul_cjk.csv",
]


def digests_by_variant(items: list[dict[str, object]]) -> dict[str, str | None]:
    digests = {}
    for name, variant in VARIANTS.items():
        repetition = simulate(variant, items, Workload(3.0, jitter=0.3), AwsRules(), seed=11)
        assert repetition.status == "succeeded", f"{name}: {repetition.error}"
        digests[name] = repetition.aggregate_sha256
    return digests


def test_bundled_list_gives_one_aggregate() -> None:
    digests = digests_by_variant(load_reading_list().items)

    assert len(set(digests.values())) == 1
    assert None not in digests.values()


@pytest.mark.parametrize("file_name", MANIFEST_FILES)
def test_real_export_gives_one_aggregate(shared_data: Path, file_name: str) -> None:
    reading_list = load_reading_list(shared_data / "goodreads" / file_name)

    digests = digests_by_variant(reading_list.items)

    assert len(set(digests.values())) == 1
    assert None not in digests.values()


def test_headerless_export_is_rejected_clearly(shared_data: Path) -> None:
    path = shared_data / "goodreads" / "01_beatrizopdd_headerless_excel.csv"

    with pytest.raises(InputError) as raised:
        load_reading_list(path)

    assert str(path) in str(raised.value)
    assert "header row is missing" in str(raised.value)


def test_manifest_lists_every_export_checked_here(shared_data: Path) -> None:
    manifest = json.loads((shared_data / "goodreads" / "manifest.json").read_text())

    listed = sorted(Path(entry["file"]).name for entry in manifest)
    assert listed == sorted(MANIFEST_FILES + ["01_beatrizopdd_headerless_excel.csv"])
