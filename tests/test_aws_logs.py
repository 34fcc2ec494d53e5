"""Collecting timing and REPORT lines from CloudWatch Logs, and turning them into a Repetition."""

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench.aws.clients import AwsClients
from bench.aws.history import HistorySummary
from bench.aws.logs import CollectedLogs, Expectation, collect_logs, timing_line
from bench.aws.measure import Observation, build_repetition, invocation_records
from bench.aws.reports import parse_report_line
from bench.aws.naming import RunNames
from variants import get_variant

RUN_ID = "20260105T120000Z-abc123"
NAMES = RunNames(RUN_ID, "us-east-1", "123456789012").for_variant("per-book")
# CloudWatch Logs rejects events older than 14 days, so the repetition started ten minutes ago.
STARTED = float(int(time.time()) - 600)


def timing(function: str, request_id: str, start: float, end: float, items: int, **extra: Any) -> str:
    record = {
        "fanout_bench_timing": 1,
        "function": function,
        "request_id": request_id,
        "environment": extra.pop("environment", f"env-{request_id}"),
        "initialization_type": extra.pop("initialization_type", "on-demand"),
        "cold": extra.pop("cold", False),
        "start": start,
        "end": end,
        "items": items,
        "run_id": RUN_ID,
        "repetition": extra.pop("repetition", 0),
        "calls": extra.pop("calls", {}),
        "error": None,
        **extra,
    }
    return json.dumps(record)


def text_report(request_id: str, duration_ms: float, billed_ms: int, init_ms: float | None = None) -> str:
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed_ms} ms\t"
        "Memory Size: 1024 MB\tMax Memory Used: 48 MB\t"
    )
    return line + (f"Init Duration: {init_ms:.2f} ms\t" if init_ms is not None else "")


def json_report(request_id: str, duration_ms: float, billed_ms: int, init_ms: float | None = None) -> str:
    metrics: dict[str, Any] = {"durationMs": duration_ms, "billedDurationMs": billed_ms, "memorySizeMB": 1024, "maxMemoryUsedMB": 48}
    if init_ms is not None:
        metrics["initDurationMs"] = init_ms
    return json.dumps({"type": "platform.report", "record": {"requestId": request_id, "status": "success", "metrics": metrics}})


def put(group: str, events: list[tuple[float, str]]) -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_stream(logGroupName=group, logStreamName="2026/01/05/[$LATEST]abc")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2026/01/05/[$LATEST]abc",
        logEvents=[{"timestamp": int(moment * 1000), "message": message} for moment, message in sorted(events)],
    )


@pytest.fixture
def clients() -> Iterator[AwsClients]:
    with mock_aws():
        logs = boto3.client("logs", region_name="us-east-1")
        for role in ("orchestrator", "worker", "aggregator"):
            logs.create_log_group(logGroupName=NAMES.log_group(role))
        yield AwsClients(session=boto3.Session(region_name="us-east-1"), region="us-east-1")


def write_repetition(with_worker_reports: bool = True) -> None:
    """Write one repetition: orchestrator cold (100 ms init), two workers, aggregator, and noise."""
    t = STARTED
    put(
        NAMES.log_group("orchestrator"),
        [
            (t, timing("orchestrator", "o-1", t, t + 0.5, 3, cold=True, calls={"s3_get": 1, "states_start": 1})),
            (t + 0.5, text_report("o-1", 500.0, 601, init_ms=100.0)),
        ],
    )
    worker_events = [
        (t + 1.0, timing("worker", "w-1", t + 1.0, t + 1.25, 2, cold=True, environment="e1")),
        (t + 1.1, timing("worker", "w-2", t + 1.1, t + 1.2, 1, environment="e1")),
        (t + 1.3, timing("worker", "w-9", t + 1.3, t + 1.4, 1, repetition=1)),
    ]
    if with_worker_reports:
        worker_events += [
            (t + 1.25, json_report("w-1", 250.0, 301, init_ms=50.0)),
            (t + 1.2, text_report("w-2", 100.0, 100)),
            (t + 1.4, text_report("w-9", 100.0, 100)),
            (t + 1.6, text_report("w-timeout", 600.0, 600)),
            (t + 90.0, text_report("w-later", 100.0, 100)),
        ]
    put(NAMES.log_group("worker"), worker_events)
    put(
        NAMES.log_group("aggregator"),
        [
            (t + 2.2, timing("aggregator", "a-1", t + 2.2, t + 2.6, 3, calls={"s3_put": 1})),
            (t + 2.6, text_report("a-1", 400.0, 400)),
        ],
    )


def test_timing_line_forms() -> None:
    line = timing("worker", "r-1", 1.0, 2.0, 1)

    assert timing_line(line)["request_id"] == "r-1"
    assert timing_line(f"2026-01-05T12:00:00Z\tr-1\t{line}")["request_id"] == "r-1"
    assert timing_line(json.dumps({"level": "INFO", "message": line}))["request_id"] == "r-1"
    assert timing_line(json.dumps({"level": "INFO", "message": json.loads(line)}))["request_id"] == "r-1"
    assert timing_line("START RequestId: r-1 Version: $LATEST") is None
    assert timing_line('{"fanout_bench_timing": 1, broken') is None


@pytest.mark.parametrize("form", [text_report, json_report])
@pytest.mark.parametrize("init_ms", [None, 87.5])
def test_report_forms_parse(form: Any, init_ms: float | None) -> None:
    report = parse_report_line(form("r-1", 250.0, 301, init_ms=init_ms))

    assert report is not None
    assert report["request_id"] == "r-1"
    assert report["duration_ms"] == 250.0
    assert report["billed_ms"] == 301
    assert report["init_ms"] == init_ms


def test_collect_complete_repetition(clients: AwsClients) -> None:
    write_repetition()

    collected = collect_logs(clients, NAMES, 0, STARTED, Expectation(worker_items=3), timeout_s=0)

    assert collected.complete
    assert sorted(record["request_id"] for record in collected.timings) == ["a-1", "o-1", "w-1", "w-2"]
    assert sorted(collected.reports) == ["a-1", "o-1", "w-1", "w-2"]
    assert collected.reports["w-1"]["format"] == "json"
    assert collected.reports["w-1"]["init_ms"] == 50.0
    assert collected.reports["w-2"]["init_ms"] is None
    assert collected.reports["o-1"]["init_ms"] == 100.0
    assert [report["request_id"] for report in collected.orphan_reports] == ["w-timeout"]
    assert collected.orphan_reports[0]["function"] == "worker"


def test_missing_reports_mark_incomplete(clients: AwsClients) -> None:
    write_repetition(with_worker_reports=False)

    collected = collect_logs(clients, NAMES, 0, STARTED, Expectation(worker_items=3), timeout_s=0)

    assert not collected.complete
    assert collected.missing == ["REPORT lines (2 invocations have none)"]


def test_missing_timing_lines_listed(clients: AwsClients) -> None:
    write_repetition()

    collected = collect_logs(clients, NAMES, 0, STARTED, Expectation(aggregator=2, worker_items=5), timeout_s=0)

    assert collected.missing == ["aggregator timing line (1 of 2)", "worker timing lines (3 of 5 books)"]


def test_absent_log_group_reads_as_empty() -> None:
    with mock_aws():
        clients = AwsClients(session=boto3.Session(region_name="us-east-1"), region="us-east-1")
        collected = collect_logs(clients, NAMES, 0, STARTED, Expectation(), timeout_s=0)

    assert collected.timings == []
    assert collected.missing == ["orchestrator timing line (0 of 1)", "aggregator timing line (0 of 1)"]


def observation(collected: CollectedLogs) -> Observation:
    history = HistorySummary(
        status="SUCCEEDED",
        windows={"FanOut": [STARTED + 0.6, STARTED + 2.0], "Aggregate": [STARTED + 2.1, STARTED + 2.7]},
    )
    history.state_entries.update({"FanOut": 1, "ProcessBooks": 2, "Aggregate": 1})
    history.attempts.update({"ProcessBooks": 3, "Aggregate": 1})
    history.task_failures.update({"Lambda.TooManyRequestsException": 1})
    variant = get_variant("per-book")
    return Observation(0, variant, "us-east-1", STARTED, "succeeded", None, history, collected, "d" * 64)


def test_repetition_from_logs_and_history(clients: AwsClients) -> None:
    write_repetition()
    collected = collect_logs(clients, NAMES, 0, STARTED, Expectation(worker_items=3), timeout_s=0)

    repetition = build_repetition(observation(collected))

    # The orchestrator's init (100 ms) starts the repetition at STARTED - 0.1.
    assert repetition.stages["orchestrator"] == (0.0, 0.6)
    assert repetition.stages["map"] == (0.7, 2.1)
    assert repetition.stages["aggregator"] == (2.2, 2.8)
    assert repetition.partial is False
    assert repetition.counters["state_transitions"] == 5
    assert repetition.counters["lambda_throttles"] == 1
    assert repetition.counters["lambda_requests"] == 5
    assert repetition.counters["s3_get_requests"] == 1
    assert repetition.counters["s3_put_requests"] == 1
    assert repetition.cost_usd["total"] > 0


def test_invocation_records_join_reports(clients: AwsClients) -> None:
    write_repetition()
    collected = collect_logs(clients, NAMES, 0, STARTED, Expectation(worker_items=3), timeout_s=0)

    repetition = build_repetition(observation(collected))
    records = {(r["function"], r["items"], r["billed_ms"]): r for r in repetition.invocations}

    orchestrator = records[("orchestrator", 3, 601)]
    assert orchestrator["init_s"] == 0.1
    assert orchestrator["cold"] is True
    assert orchestrator["start"] == 0.0
    first_worker = records[("worker", 2, 301)]
    assert first_worker["init_s"] == 0.05
    assert first_worker["start"] == 1.05
    assert first_worker["end"] == 1.35
    second_worker = records[("worker", 1, 100)]
    assert second_worker["cold"] is False
    assert second_worker["environment"] == first_worker["environment"]
    timed_out = records[("worker", 0, 600)]
    assert timed_out["end"] == 1.7
    assert timed_out["environment"] != first_worker["environment"]


def test_records_without_report_estimate_billing() -> None:
    collected = CollectedLogs(timings=[json.loads(timing("worker", "w-1", 10.0, 10.2501, 1))])

    records = invocation_records(collected)

    assert records[0]["billed_ms"] == 251
    assert records[0]["init_s"] == 0.0
