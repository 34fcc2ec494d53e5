"""Tests for the `bench diagnose` command through the real CLI, on a fan-out set up in moto."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from typer.testing import CliRunner

import bench.aws.diagnose_checks
from bench.cli import app
from diagnose_fixtures import FUNCTION, MOTO_CONFIG, REGION, Deployed, Scenario, deploy, queue_lambda_responses, waves

runner = CliRunner()


@pytest.fixture(scope="module")
def deployed() -> Iterator[tuple[Scenario, Deployed]]:
    """An inline Map fan-out of 565 items in moto, read by three diagnose runs."""
    with mock_aws(config=MOTO_CONFIG), pytest.MonkeyPatch.context() as monkeypatch:
        scenario = Scenario(spans=waves(565, 40, 3.0), workflow_items=565)
        setup = deploy(scenario)
        for _ in range(2):
            queue_lambda_responses(setup.stubber, scenario)

        def build_clients(region: str | None, profile: str | None, endpoint_url: str | None) -> Any:
            return setup.clients, region or REGION

        monkeypatch.setattr(bench.aws.diagnose_checks, "build_clients", build_clients)
        yield scenario, setup
        setup.stubber.assert_no_pending_responses()


def window_options(scenario: Scenario) -> list[str]:
    start, end = scenario.window
    return ["--start", start.isoformat(), "--end", end.isoformat()]


def test_diagnose_text_report(deployed: tuple[Scenario, Deployed]) -> None:
    scenario, setup = deployed
    arguments = ["diagnose", "--function", FUNCTION, "--execution", setup.execution_arn, *window_options(scenario)]
    result = runner.invoke(app, arguments)

    assert result.exit_code == 0, result.output
    assert "1. CloudWatch ConcurrentExecutions (Maximum per 60 s)" in result.output
    assert "  peak 40 over 1 one-minute data points; Throttles (Sum) 0" in result.output
    assert "a peak shorter than a minute is understated" in result.output
    assert "  concurrency limit 400, unreserved 400" in result.output
    assert "  reserved concurrency: none (uses the account's unreserved concurrency)" in result.output
    assert "4. REPORT lines in /aws/lambda/worker" in result.output
    assert "15 waves, median duration 3.000 s, span 45.0 s" in result.output
    assert "  cold starts 40, init median 120.5 ms (min 120.5, max 120.5)" in result.output
    assert "  Map 'Books': inline, MaxConcurrency 1000, effective 40 at once" in result.output
    assert "565 iterations" in result.output
    assert (
        "Verdict: inline Map concurrency cap of 40, not the account concurrency limit of 400: 565 iterations ran "
        "in 15 waves, peak 40 concurrent, account headroom 360 unused"
    ) in result.output
    assert "Try instead: distributed" in result.output


def test_diagnose_json_and_what_if(deployed: tuple[Scenario, Deployed]) -> None:
    scenario, setup = deployed
    arguments = ["diagnose", "--function", FUNCTION, "--execution", setup.execution_arn, *window_options(scenario),
                 "--format", "json", "--what-if"]
    result = runner.invoke(app, arguments)

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["verdict"]["limit"] == "inline_map_cap"
    assert report["verdict"]["shares"] == {"inline_map_cap": 1.0}
    assert report["logs"]["profile"]["peak"] == 40
    assert report["logs"]["profile"]["waves"] == 15
    assert report["what_if_inputs"] == {"items": 565, "work_seconds": 3.0, "account_concurrency": 400}
    predictions = {entry["variant"]: entry for entry in report["what_if"]}
    assert sorted(predictions) == ["batched", "distributed", "per-book", "provisioned", "sqs"]
    assert predictions["per-book"]["top_limit"] == "inline_map_cap"
    assert predictions["per-book"]["map_s"] > 45.0
    assert predictions["distributed"]["map_s"] < predictions["per-book"]["map_s"]


def test_diagnose_what_if_table(deployed: tuple[Scenario, Deployed]) -> None:
    scenario, _ = deployed
    result = runner.invoke(app, ["diagnose", "--function", FUNCTION, *window_options(scenario), "--what-if"])

    assert result.exit_code == 0, result.output
    assert "What if (simulated: 565 items of 3.000 s, account concurrency 400):" in result.output
    assert "  variant          map s   total s  top limit" in result.output
    assert "  per-book " in result.output


def test_diagnose_bad_start_exits_2() -> None:
    result = runner.invoke(app, ["diagnose", "--function", FUNCTION, "--start", "yesterday"])

    assert result.exit_code == 2
    assert "error: --start 'yesterday' is not a valid time" in result.output


def test_diagnose_both_workflow_options_exit_2() -> None:
    result = runner.invoke(app, ["diagnose", "--function", FUNCTION, "--execution", "arn:e", "--state-machine", "arn:s"])

    assert result.exit_code == 2
    assert "error: pass either --execution or --state-machine, not both" in result.output


def test_diagnose_unknown_function_exits_1() -> None:
    with mock_aws():
        result = runner.invoke(app, ["diagnose", "--function", "absent"])

    assert result.exit_code == 1
    assert "error: reading the configuration of function absent: not found" in result.output
