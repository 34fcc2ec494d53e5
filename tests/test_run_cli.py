"""`bench run` through typer's CliRunner and once through a real subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.results import read_result

runner = CliRunner()


def run_cli(*args: str) -> "object":
    return runner.invoke(app, list(args), catch_exceptions=False)


def result_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.exists() else []


def test_run_all_writes_one_result_with_five_variants(tmp_path: Path) -> None:
    outcome = run_cli("run", "--all", "--repetitions", "2", "--output-dir", str(tmp_path))

    files = result_files(tmp_path)
    assert outcome.exit_code == 0, outcome.output
    assert len(files) == 1
    assert f"wrote {files[0]}" in outcome.output
    document = read_result(files[0])
    assert [run["variant"]["name"] for run in document["variants"]] == [
        "per-book", "batched", "sqs", "provisioned", "distributed"
    ]
    assert all(len(run["repetitions"]) == 2 for run in document["variants"])


def test_run_records_input_and_parameters(tmp_path: Path) -> None:
    run_cli("run", "--variant", "batched", "--repetitions", "1", "--items", "40", "--batch-size", "10",
            "--account-concurrency", "400", "--seed", "3", "--output-dir", str(tmp_path))

    document = read_result(result_files(tmp_path)[0])
    assert document["backend"] == "sim"
    assert document["input"]["items"] == 40
    assert document["input"]["source"] == "bundled:reading_list.csv"
    assert len(document["input"]["sha256"]) == 64
    assert document["parameters"]["seed"] == 3
    assert document["parameters"]["rules"]["account_concurrency"] == 400
    assert document["variants"][0]["variant"]["batch_size"] == 10
    assert document["tool"]["version"] == "0.1.0"


def test_run_aggregate_is_identical_across_variants(tmp_path: Path) -> None:
    run_cli("run", "--all", "--repetitions", "1", "--output-dir", str(tmp_path))

    document = read_result(result_files(tmp_path)[0])
    digests = {run["repetitions"][0]["aggregate_sha256"] for run in document["variants"]}
    assert len(digests) == 1
    assert None not in digests


def test_run_summary_names_the_binding_limit(tmp_path: Path) -> None:
    outcome = run_cli("run", "--variant", "per-book", "--repetitions", "1", "--output-dir", str(tmp_path))

    assert "bound by: inline Map concurrency cap" in outcome.output


def test_run_twice_never_overwrites(tmp_path: Path) -> None:
    run_cli("run", "--variant", "sqs", "--repetitions", "1", "--items", "20", "--output-dir", str(tmp_path))
    first = result_files(tmp_path)[0]
    content = first.read_bytes()

    run_cli("run", "--variant", "sqs", "--repetitions", "1", "--items", "20", "--output-dir", str(tmp_path))

    assert len(result_files(tmp_path)) == 2
    assert first.read_bytes() == content


def test_run_rule_override_is_recorded(tmp_path: Path) -> None:
    run_cli("run", "--variant", "distributed", "--repetitions", "1", "--set", "map_run_setup_s=5",
            "--output-dir", str(tmp_path))

    document = read_result(result_files(tmp_path)[0])
    assert document["parameters"]["rules"]["map_run_setup_s"] == 5.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name a variant with --variant NAME"),
        (("--variant", "fastest"), "--variant 'fastest' is not a variant"),
        (("--all", "--variant", "sqs"), "use either --all or --variant NAME"),
        (("--all", "--repetitions", "0"), "--repetitions is 0; expected 1 or more"),
        (("--all", "--esm-batch-size", "11"), "--esm-batch-size is 11; expected 1 to 10"),
        (("--all", "--esm-max-concurrency", "1"), "--esm-max-concurrency is 1; expected 2 to 1000"),
        (("--all", "--set", "no_such_rule=1"), "unknown rule 'no_such_rule'"),
        (("--all", "--set", "worker_init_s"), "expected NAME=VALUE"),
        (("--all", "--set", "worker_init_s=fast"), "rule worker_init_s is 'fast'; expected a float"),
        (("--all", "--items", "0"), "expected 1 or more"),
        (("--all", "--items", "9999"), "the file has only 565"),
        (("--all", "--backend", "gcp"), "--backend 'gcp' is not a backend"),
        (("--all", "--work-seconds", "-1"), "--work-seconds is -1.0"),
        (("--all", "--region", "xx-nowhere-9"), "--region 'xx-nowhere-9' is not a Region"),
        (("--all", "--set", "region=eu-west-1"), "use --region NAME"),
    ],
)
def test_run_rejects_bad_options(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    outcome = runner.invoke(app, ["run", *args, "--output-dir", str(tmp_path)])

    assert outcome.exit_code == 2
    assert message in outcome.output
    assert "Traceback" not in outcome.output
    assert result_files(tmp_path) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"Title,Author\n", "no books"),
        (b"Author,Year\nTolkien,1954\n", "Title"),
        (b"\x00\x01\x02\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        (b"Title,Number of Pages\nDune,abc\n", "line 2"),
    ],
)
def test_run_rejects_bad_input_files(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "books.csv"
    bad.write_bytes(content)
    output_dir = tmp_path / "results"

    outcome = runner.invoke(app, ["run", "--all", "--input", str(bad), "--output-dir", str(output_dir)])

    assert outcome.exit_code == 2
    assert str(bad) in outcome.output
    assert message.lower() in outcome.output.lower()
    assert "Traceback" not in outcome.output
    assert result_files(output_dir) == []


def test_run_rejects_missing_input(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"

    outcome = runner.invoke(app, ["run", "--all", "--input", str(missing), "--output-dir", str(tmp_path)])

    assert outcome.exit_code == 2
    assert str(missing) in outcome.output
    assert result_files(tmp_path) == []


def test_run_reads_a_real_export(shared_data: Path, tmp_path: Path) -> None:
    export = shared_data / "goodreads" / "11_ruvas20_most_rows.csv"

    outcome = run_cli("run", "--all", "--repetitions", "1", "--input", str(export), "--output-dir", str(tmp_path))

    document = read_result(result_files(tmp_path)[0])
    assert outcome.exit_code == 0
    assert document["input"]["items"] == 1911
    assert {run["repetitions"][0]["status"] for run in document["variants"]} == {"succeeded"}


def test_rules_lists_every_rule_with_its_source() -> None:
    outcome = run_cli("rules")

    assert outcome.exit_code == 0
    assert "inline_map_max_concurrency" in outcome.output
    assert "Inline Map state" in outcome.output
    assert "esm_scale_per_minute" in outcome.output


def test_run_and_compare_through_a_subprocess(tmp_path: Path) -> None:
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "-m", "bench.cli"]

    ran = subprocess.run(
        [*command, "run", "--all", "--repetitions", "2", "--output-dir", str(tmp_path)],
        capture_output=True, text=True, env=environment, timeout=120, check=False,
    )
    compared = subprocess.run(
        [*command, "compare", str(tmp_path), "--format", "json"],
        capture_output=True, text=True, env=environment, timeout=120, check=False,
    )
    bad = subprocess.run(
        [*command, "run", "--all", "--input", str(tmp_path / "missing.csv"), "--output-dir", str(tmp_path)],
        capture_output=True, text=True, env=environment, timeout=120, check=False,
    )

    assert ran.returncode == 0, ran.stderr
    assert compared.returncode == 0, compared.stderr
    assert [row["variant"] for row in json.loads(compared.stdout)] == [
        "per-book", "batched", "sqs", "provisioned", "distributed"
    ]
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ")
    assert "Traceback" not in bad.stderr


def test_run_rejects_output_dir_that_is_a_file(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("mine")

    outcome = runner.invoke(app, ["run", "--all", "--output-dir", str(taken / "sub")])
    direct = runner.invoke(app, ["run", "--all", "--output-dir", str(taken)])

    assert outcome.exit_code == 2
    assert "cannot create the folder" in outcome.output
    assert direct.exit_code == 2
    assert "exists and is not a folder" in direct.output
    assert taken.read_text() == "mine"


def test_run_warns_about_unused_knobs(tmp_path: Path) -> None:
    outcome = runner.invoke(
        app, ["run", "--variant", "per-book", "--batch-size", "5", "--repetitions", "1", "--output-dir", str(tmp_path)]
    )

    assert outcome.exit_code == 0
    assert "warning: --batch-size applies only to batched; it has no effect on per-book" in outcome.output


def test_run_exits_1_when_a_variant_always_fails(tmp_path: Path) -> None:
    outcome = runner.invoke(
        app, ["run", "--all", "--account-concurrency", "10", "--repetitions", "1", "--output-dir", str(tmp_path)]
    )

    assert outcome.exit_code == 1
    assert "every repetition of per-book, batched, provisioned, distributed failed" in outcome.output
    assert len(result_files(tmp_path)) == 1
    assert "sqs          total" in outcome.output
