"""Runs of different settings in one row: the settings fingerprint and the notes of compare, report and the gate."""

import hashlib
import json
import logging
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.compare import load_comparison_frame, result_notes, run_settings, settings_fingerprint
from bench.report import write_report
from bench.results import read_result

runner = CliRunner()

# A small, fast simulated run of the batched variant; each case adds one option.
BASE_RUN = ["run", "--variant", "batched", "--items", "20", "--repetitions", "2", "--seed", "1"]
SETTING_CASES = {
    "threads": (["--batch-threads", "1"], "variant.batch_threads 20 vs 1"),
    "items": (["--items", "10"], "input.items 20 vs 10"),
    "jitter": (["--jitter", "0"], "workload.jitter 0.05 vs 0.0"),
    "set": (["--set", "worker_init_s=0.5"], "rules.worker_init_s 0.1 vs 0.5"),
    "region": (["--region", "eu-central-1"], "rules.region us-east-1 vs eu-central-1"),
}
SAME_SETTINGS_CASES = {
    "seed": ["--seed", "2"],
    "repetitions": ["--repetitions", "3"],
    "unused knob": ["--esm-batch-size", "5"],
}


def invoke(*args: str | Path):
    return runner.invoke(app, [str(arg) for arg in args], catch_exceptions=False)


def simulate(folder: Path, name: str, *options: str) -> Path:
    """Run BASE_RUN with `options` into a scratch folder and move its result file to folder/name."""
    scratch = folder / f".scratch-{name}"
    outcome = invoke(*BASE_RUN, *options, "--output-dir", scratch)
    assert outcome.exit_code == 0, outcome.output
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    shutil.move(next(scratch.glob("*.json")), target)
    shutil.rmtree(scratch)
    return target


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("base"), "a.json")


def pair(base_run: Path, folder: Path, *options: str) -> Path:
    """Return `folder` holding the base run as a.json and a run with `options` as b.json."""
    folder.mkdir(parents=True)
    shutil.copy(base_run, folder / "a.json")
    simulate(folder, "b.json", *options)
    return folder


def test_fingerprint_is_sha256_of_canonical_json(base_run: Path) -> None:
    document = read_result(base_run)
    settings = run_settings(document, document["variants"][0]["variant"])
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))

    assert settings_fingerprint(settings) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_settings_contents(base_run: Path) -> None:
    document = read_result(base_run)
    settings = run_settings(document, document["variants"][0]["variant"])

    assert settings["variant.batch_threads"] == 20
    assert settings["workload.jitter"] == 0.05
    assert settings["rules.worker_init_s"] == 0.1
    assert settings["input.items"] == 20
    assert settings["input.sha256"] == document["input"]["sha256"]
    assert settings["backend"] == "sim"
    assert settings["region"] == "us-east-1"
    assert "seed" not in settings
    assert "repetitions" not in settings
    assert not any(key.startswith("knobs") for key in settings)


@pytest.mark.parametrize("case", list(SETTING_CASES))
def test_different_settings_noted(case: str, base_run: Path, tmp_path: Path) -> None:
    options, difference = SETTING_CASES[case]
    folder = pair(base_run, tmp_path / case, *options)

    notes = result_notes(load_comparison_frame([folder]))

    assert len(notes) == 1
    assert notes[0].startswith("batched (sim): pools runs with different settings: ")
    assert difference in notes[0]
    assert notes[0].endswith("(files a.json vs b.json); compare them separately")


def test_batch_threads_note_exact(base_run: Path, tmp_path: Path) -> None:
    folder = pair(base_run, tmp_path / "threads", "--batch-threads", "1")

    assert result_notes(load_comparison_frame([folder])) == [
        "batched (sim): pools runs with different settings: variant.batch_threads 20 vs 1 "
        "(files a.json vs b.json); compare them separately"
    ]


@pytest.mark.parametrize("case", list(SAME_SETTINGS_CASES))
def test_same_settings_not_noted(case: str, base_run: Path, tmp_path: Path) -> None:
    folder = pair(base_run, tmp_path / case.replace(" ", "-"), *SAME_SETTINGS_CASES[case])

    df = load_comparison_frame([folder])

    assert df["settings_sha256"].nunique() == 1
    assert result_notes(df) == []


def test_compare_table_prints_note(base_run: Path, tmp_path: Path) -> None:
    folder = pair(base_run, tmp_path / "threads", "--batch-threads", "1")

    outcome = invoke("compare", folder)

    assert outcome.exit_code == 0
    assert "note: batched (sim): pools runs with different settings: variant.batch_threads 20 vs 1" in outcome.stdout


def test_compare_json_note_on_stderr(base_run: Path, tmp_path: Path) -> None:
    folder = pair(base_run, tmp_path / "jitter", "--jitter", "0")

    outcome = invoke("compare", folder, "--format", "json")

    assert json.loads(outcome.stdout)[0]["runs"] == 4
    assert "note: batched (sim): pools runs with different settings: workload.jitter 0.05 vs 0.0" in outcome.stderr


def test_many_files_listed_briefly(base_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for name in ("a.json", "b.json", "c.json", "d.json"):
        shutil.copy(base_run, folder / name)
    simulate(folder, "e.json", "--batch-threads", "1")

    notes = result_notes(load_comparison_frame([folder]))

    assert notes[0].endswith("(files a.json, b.json, c.json and 1 more vs e.json); compare them separately")


def test_gate_notes_changed_settings(base_run: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(base_run, old / "a.json")
    new = tmp_path / "new"
    simulate(new, "b.json", "--jitter", "0")

    outcome = invoke("compare", new, "--against", old)

    assert (
        "note: batched (sim): the new results and --against differ in settings other than the seed: "
        "workload.jitter 0.05 (old) vs 0.0 (new); a change of time may come from the settings rather than the code"
    ) in outcome.stdout


def test_gate_seed_change_not_noted(base_run: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(base_run, old / "a.json")
    new = tmp_path / "new"
    simulate(new, "b.json", "--seed", "7")

    outcome = invoke("compare", new, "--against", old)

    assert "differ in settings" not in outcome.stdout
    assert "pools runs" not in outcome.stdout


def test_gate_notes_pooled_against(base_run: Path, tmp_path: Path) -> None:
    old = pair(base_run, tmp_path / "old", "--batch-threads", "1")
    new = tmp_path / "new"
    new.mkdir()
    shutil.copy(base_run, new / "a.json")

    outcome = invoke("compare", new, "--against", old)

    pooled = "note: --against: batched (sim): pools runs with different settings: variant.batch_threads 20 vs 1"
    assert pooled in outcome.stdout
    assert "variant.batch_threads 20/1 (old) vs 20 (new)" in outcome.stdout


def test_report_notes_pooled_settings(base_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = pair(base_run, tmp_path / "items", "--items", "10")

    with caplog.at_level(logging.WARNING, logger="bench.report"):
        page = write_report([folder], tmp_path / "report").read_text("utf-8")

    sha = read_result(base_run)["input"]["sha256"][:12]
    assert f"Inputs: 10 items (sha256 {sha}), 20 items (sha256 {sha})." in page
    assert "> note: batched (sim): pools runs with different settings: input.items 20 vs 10" in page
    assert [record.levelno for record in caplog.records] == [logging.WARNING]
    assert caplog.records[0].getMessage().startswith("batched (sim): pools runs with different settings: ")
