"""Tests for binding-limit attribution and `bench explain`."""

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bench.attribution import (
    ConcurrencyCap,
    describe_limit,
    explain_document,
    held_item_seconds,
    infer_limits,
    limit_shares,
    top_limit,
    variant_caps,
)
from bench.cli import app
from bench.results import Repetition, build_document, write_result
from bench.sim import AwsRules, simulate
from bench.workload import Workload
from variants import VARIANTS, get_variant

runner = CliRunner()


def spans(widths: list[int], seconds: float, items: int = 1) -> list[dict[str, Any]]:
    """Return worker invocations in consecutive waves of the given widths, each `seconds` long."""
    records = []
    for wave, width in enumerate(widths):
        for _ in range(width):
            records.append({"start": wave * seconds, "end": (wave + 1) * seconds, "items": items})
    return records


def test_held_waves_of_40_all_inline_cap() -> None:
    caps = [ConcurrencyCap("inline_map_cap", 40), ConcurrencyCap("account_concurrency", 1000)]
    limits = held_item_seconds(spans([40] * 14 + [5], 3.0), caps, "scaling_rate")

    assert limits == {"inline_map_cap": 11130.0}
    assert limit_shares(limits) == {"inline_map_cap": 1.0}


def test_held_ramp_then_maximum_shares() -> None:
    # 5 running while 25 wait for 3 s (ramp), then 10 running at the cap while 15 and then 5 wait.
    caps = [ConcurrencyCap("esm_max_concurrency", 10), ConcurrencyCap("account_concurrency", 1000)]
    limits = held_item_seconds(spans([5, 10, 10, 5], 3.0), caps, "esm_ramp")

    assert limits == {"esm_ramp": 75.0, "esm_max_concurrency": 60.0}
    assert limit_shares(limits) == {"esm_ramp": 75.0 / 135.0, "esm_max_concurrency": 60.0 / 135.0}
    assert top_limit(limits) == ("esm_ramp", 75.0)


def test_held_counts_items_per_invocation() -> None:
    caps = [ConcurrencyCap("inline_map_cap", 2)]
    limits = held_item_seconds(spans([2, 2], 1.0, items=10), caps, None)

    assert limits == {"inline_map_cap": 20.0}


def test_held_dispatch_latency_not_charged() -> None:
    records = [{"start": index * 0.01, "end": 3.0, "items": 1} for index in range(50)]
    limits = held_item_seconds(records, [ConcurrencyCap("inline_map_cap", 100)], "scaling_rate")

    assert limits == {}


def test_held_waiting_before_first_start() -> None:
    caps = [ConcurrencyCap("inline_map_cap", 1)]
    limits = held_item_seconds(spans([1, 1], 1.0), caps, "state_transition_rate", available_at=-2.0)

    assert limits == {"state_transition_rate": 4.0, "inline_map_cap": 1.0}


def test_caps_per_variant() -> None:
    parameters = {"rules": AwsRules.for_region("us-east-1").with_overrides({"account_concurrency": 400}).to_dict()}

    assert variant_caps(get_variant("per-book").to_dict(), parameters) == [
        ConcurrencyCap("inline_map_cap", 40),
        ConcurrencyCap("account_concurrency", 400),
    ]
    assert variant_caps(get_variant("per-book").with_knobs(max_concurrency=10).to_dict(), parameters)[0] == (
        ConcurrencyCap("max_concurrency", 10)
    )
    assert variant_caps(get_variant("sqs").with_knobs(esm_max_concurrency=50).to_dict(), parameters)[0] == (
        ConcurrencyCap("esm_max_concurrency", 50)
    )
    assert variant_caps(get_variant("per-book").with_knobs(reserved_concurrency=20).to_dict(), parameters)[0] == (
        ConcurrencyCap("reserved_concurrency", 20)
    )


def test_top_limit_none_when_empty() -> None:
    assert top_limit({}) is None
    assert top_limit({"inline_map_cap": 0.0}) is None


def test_top_limit_ties_follow_name_order() -> None:
    assert top_limit({"account_concurrency": 5.0, "inline_map_cap": 5.0}) == ("inline_map_cap", 5.0)


@pytest.mark.parametrize(
    ("name", "variant", "expected"),
    [
        ("inline_map_cap", "per-book", "inline Map concurrency cap (40)"),
        ("max_concurrency", "distributed", "Map MaxConcurrency (1000)"),
        ("account_concurrency", "per-book", "account concurrency limit (400)"),
        ("scaling_rate", "provisioned", "Lambda scaling rate (1,000 new environments per 10 s per function)"),
        ("esm_ramp", "sqs", "SQS event source mapping ramp (5 at first, +300 per minute)"),
        ("esm_max_concurrency", "sqs", "event source mapping maximum concurrency (1000)"),
        ("distributed_dispatch_rate", "distributed", "distributed Map child start rate (1,000 per second)"),
        ("state_transition_rate", "per-book", "Standard workflow state-transition bucket (5,000 burst, 5,000 per second)"),
    ],
)
def test_describe_limit_plain_words(name: str, variant: str, expected: str) -> None:
    parameters = {"rules": AwsRules.for_region("us-east-1").with_overrides({"account_concurrency": 400}).to_dict()}

    assert describe_limit(name, get_variant(variant).to_dict(), parameters) == expected


def test_describe_limit_reserved_value() -> None:
    variant = get_variant("per-book").with_knobs(reserved_concurrency=20).to_dict()

    assert describe_limit("reserved_concurrency", variant, {}) == "worker reserved concurrency (20)"


# Variant -> the limit that keeps 565 items of 3 s waiting in the simulator, with its share.
SIMULATED_TOP = {
    "per-book": ("inline_map_cap", 1.0),
    "provisioned": ("inline_map_cap", 1.0),
    "sqs": ("esm_ramp", 1.0),
    "distributed": ("distributed_dispatch_rate", 1.0),
}


@pytest.fixture(scope="module")
def simulated() -> dict[str, Repetition]:
    items = [{"id": index, "title": f"item {index}"} for index in range(1, 566)]
    rules = AwsRules.for_region("us-east-1")
    return {name: simulate(variant, items, Workload(3.0), rules, seed=0) for name, variant in VARIANTS.items()}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_simulated_variant_attribution(simulated: dict[str, Repetition], name: str) -> None:
    repetition = simulated[name]
    document = build_document(
        run_id="r", backend="sim", region="us-east-1", parameters={"rules": AwsRules().to_dict()},
        input_info={"source": "test", "items": 565, "sha256": None},
        variant_runs=[{"variant": VARIANTS[name].to_dict(), "repetitions": [repetition.to_dict()]}],
    )
    explanation = explain_document(document)[0]

    if name not in SIMULATED_TOP:
        assert explanation.top is None
        assert explanation.shares == {}
        return
    limit, share = SIMULATED_TOP[name]
    assert explanation.top[0] == limit
    assert explanation.shares == {limit: share}
    assert explanation.inferred is False


def test_inferred_matches_simulated_per_book(simulated: dict[str, Repetition]) -> None:
    repetition = simulated["per-book"].to_dict()
    inferred = infer_limits(VARIANTS["per-book"].to_dict(), repetition["invocations"], {"rules": AwsRules().to_dict()})

    assert inferred == repetition["limits"]


def aws_document(widths: list[int]) -> dict[str, Any]:
    records = [
        {"function": "worker", "start": record["start"], "end": record["end"], "init_s": 0.0, "cold": False,
         "billed_ms": 3000, "items": 1, "environment": "e", "provisioned": False}
        for record in spans(widths, 3.0)
    ]
    repetition = Repetition(
        index=0, status="succeeded", stages={"map": (0.0, 45.0)}, invocations=records, counters={},
        cost_usd={"total": 0.0}, aggregate_sha256=None,
    )
    return build_document(
        run_id="20260105T120000Z-abcdef", backend="aws", region="us-east-1", parameters={},
        input_info={"source": "books.csv", "items": sum(widths), "sha256": "0" * 64},
        variant_runs=[{"variant": VARIANTS["per-book"].to_dict(), "repetitions": [repetition.to_dict()]}],
    )


def test_explain_aws_result_inferred() -> None:
    explanation = explain_document(aws_document([40] * 14 + [5]))[0]

    assert explanation.inferred is True
    assert explanation.limits == {"inline_map_cap": 11130.0}
    assert explanation.top_description == "inline Map concurrency cap (40)"


def test_explain_cli_aws_file(tmp_path: Path) -> None:
    path = write_result(aws_document([40] * 14 + [5]), tmp_path)
    result = runner.invoke(app, ["explain", str(path)])

    assert result.exit_code == 0, result.output
    assert f"{path} (aws, us-east-1, 565 items)" in result.output
    assert "per-book: items held back 11,130.0 item-s per repetition (mean of 1 succeeded repetition, inferred from the trace)" in result.output
    assert "  inline_map_cap      11,130.0   100.0%" in result.output
    assert "  bound by the inline Map concurrency cap (40): 100% of the time items waited" in result.output


def test_explain_cli_simulated_run(tmp_path: Path) -> None:
    run = runner.invoke(
        app,
        ["run", "--variant", "per-book", "--variant", "batched", "--items", "100", "--repetitions", "2",
         "--jitter", "0", "--output-dir", str(tmp_path)],
    )
    assert run.exit_code == 0, run.output

    result = runner.invoke(app, ["explain", str(tmp_path), "--format", "json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert len(report) == 1
    variants = {entry["variant"]: entry for entry in report[0]["variants"]}
    assert variants["per-book"]["top"]["limit"] == "inline_map_cap"
    assert variants["per-book"]["shares"] == {"inline_map_cap": 1.0}
    assert variants["per-book"]["repetitions"] == 2
    assert variants["per-book"]["top_description"] == "inline Map concurrency cap (40)"
    assert variants["batched"]["top"] is None


def test_explain_cli_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["explain", str(tmp_path / "absent.json")])

    assert result.exit_code == 2
    assert "absent.json: no such file or folder" in result.output


def test_explain_text_no_limit_line(tmp_path: Path) -> None:
    path = write_result(aws_document([30]), tmp_path)
    result = runner.invoke(app, ["explain", str(path)])

    assert result.exit_code == 0, result.output
    assert "  no limit held items back during the map phase" in result.output


def test_explain_leaves_out_failed_repetitions(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bench.cli import app

    runner = CliRunner()
    runner.invoke(app, ["run", "--all", "--account-concurrency", "10", "--repetitions", "1", "--output-dir", str(tmp_path)])

    outcome = runner.invoke(app, ["explain", str(tmp_path)])

    assert outcome.exit_code == 0
    assert "per-book: every repetition failed (1): Lambda.TooManyRequestsException" in outcome.output
    assert "provisioned: every repetition failed (1): InvalidParameterValueException" in outcome.output
    assert "bound by the account concurrency limit (10)" in outcome.output
