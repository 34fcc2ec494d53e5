"""Turn one repetition's execution history and log records into a result-file Repetition."""

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.aws.history import HistorySummary
from bench.aws.logs import CollectedLogs
from bench.aws.naming import FUNCTION_ROLES
from bench.aws.render import STATE_AGGREGATOR, STATE_MAP
from bench.results import Repetition
from variants import Variant

# Requests an SQS event source mapping makes per batch it delivers: one ReceiveMessage
# and one DeleteMessageBatch. Empty polls are not counted: the logs do not show them.
ESM_REQUESTS_PER_BATCH = 2


@dataclass
class Observation:
    """The runner's observations of one repetition, besides the log records."""

    index: int
    variant: Variant
    region: str
    started: float  # epoch seconds when the runner invoked the orchestrator
    status: str
    error: str | None
    history: HistorySummary | None
    logs: CollectedLogs
    aggregate_sha256: str | None
    provisioned_seconds: float = 0.0


def invocation_records(logs: CollectedLogs) -> list[dict[str, Any]]:
    """Return one record per invocation with absolute times: timing lines joined with REPORT lines.

    A record starts when the invocation started, init included, as the
    simulator counts it. REPORT lines without a timing line (an invocation
    that timed out or crashed before logging) become records with no items.
    """
    records = []
    for timing in logs.timings:
        report = logs.reports.get(timing["request_id"])
        init_s = (report["init_ms"] or 0.0) / 1000 if report else 0.0
        handler_ms = math.ceil((timing["end"] - timing["start"]) * 1000)
        billed_ms = report["billed_ms"] if report and report["billed_ms"] is not None else handler_ms
        records.append(
            {
                "function": timing["function"],
                "start": timing["start"] - init_s,
                "end": timing["end"],
                "init_s": init_s,
                "cold": init_s > 0 or bool(timing.get("cold")),
                "billed_ms": int(billed_ms),
                "items": timing.get("items", 0),
                "environment": timing.get("environment"),
                "provisioned": timing.get("initialization_type") == "provisioned-concurrency",
            }
        )
    for report in logs.orphan_reports:
        init_s = (report["init_ms"] or 0.0) / 1000
        records.append(
            {
                "function": report["function"],
                "start": report["start"] - init_s,
                "end": report["end"],
                "init_s": init_s,
                "cold": init_s > 0,
                "billed_ms": int(report["billed_ms"] or 0),
                "items": 0,
                "environment": report.get("log_stream"),
                "provisioned": False,
            }
        )
    return sorted(records, key=lambda record: (record["start"], record["function"]))


def relative_records(records: list[dict[str, Any]], origin: float) -> list[dict[str, Any]]:
    """Return records with times relative to `origin` and environments numbered per function."""
    numbering: dict[tuple[str, Any], int] = {}
    per_function: Counter[str] = Counter()
    relative = []
    for record in records:
        key = (record["function"], record["environment"])
        if key not in numbering:
            numbering[key] = per_function[record["function"]]
            per_function[record["function"]] += 1
        relative.append(
            {
                **record,
                "start": round(record["start"] - origin, 6),
                "end": round(record["end"] - origin, 6),
                "environment": numbering[key],
            }
        )
    return relative


def build_repetition(observation: Observation) -> Repetition:
    """Assemble the Repetition of one observed run: stages, invocations, counters and cost."""
    from bench.cost import estimate_cost

    absolute = invocation_records(observation.logs)
    orchestrator = next((record for record in absolute if record["function"] == "orchestrator"), None)
    origin = orchestrator["start"] if orchestrator else observation.started
    invocations = relative_records(absolute, origin)
    counters = count_requests(observation, invocations)
    variant = observation.variant

    return Repetition(
        index=observation.index,
        status=observation.status,
        error=observation.error,
        stages=stage_windows(observation, absolute, origin),
        invocations=invocations,
        counters=counters,
        cost_usd=estimate_cost(variant.to_dict(), invocations, counters, observation.region),
        aggregate_sha256=observation.aggregate_sha256,
        partial=not observation.logs.complete,
    )


def stage_windows(
    observation: Observation, records: list[dict[str, Any]], origin: float
) -> dict[str, tuple[float, float]]:
    """Return the orchestrator, map and aggregator windows in seconds since `origin`."""
    windows: dict[str, tuple[float, float]] = {}
    by_function = {name: [r for r in records if r["function"] == name] for name in FUNCTION_ROLES}
    if by_function["orchestrator"]:
        first = by_function["orchestrator"][0]
        windows["orchestrator"] = (first["start"], first["end"])

    history = observation.history
    if history is not None:
        for stage, state in (("map", STATE_MAP), ("aggregator", STATE_AGGREGATOR)):
            window = history.window(state)
            if window is not None:
                windows[stage] = window
    else:
        first_send = _first_send(observation.logs)
        workers = by_function["worker"]
        if first_send is not None and workers:
            windows["map"] = (first_send, max(record["end"] for record in workers))
        if by_function["aggregator"]:
            last = by_function["aggregator"][-1]
            windows["aggregator"] = (last["start"], last["end"])

    return {stage: (round(start - origin, 6), round(end - origin, 6)) for stage, (start, end) in windows.items()}


def _first_send(logs: CollectedLogs) -> float | None:
    sends = [timing["first_send"] for timing in logs.timings if timing.get("first_send") is not None]
    return min(sends) if sends else None


def count_requests(observation: Observation, invocations: list[dict[str, Any]]) -> dict[str, int]:
    """Return the repetition's counters from the handlers' own request counts and the history."""
    calls: Counter[str] = Counter()
    for timing in observation.logs.timings:
        calls.update(timing.get("calls", {}))

    variant = observation.variant
    workers = [record for record in invocations if record["function"] == "worker"]
    history = observation.history
    counters = {
        "state_transitions": history.state_transitions if history else 0,
        "lambda_requests": len(invocations),
        "lambda_throttles": history.throttles if history else 0,
        "sqs_requests": calls["sqs_units"],
        "s3_get_requests": calls["s3_get"],
        # LIST requests are priced with PUT requests. Source: Amazon S3 pricing.
        "s3_put_requests": calls["s3_put"] + calls["s3_list"],
        "dynamodb_write_requests": calls["dynamodb_write"],
        "express_executions": 0,
        "express_duration_ms": 0,
        "provisioned_environments": variant.provisioned,
        "provisioned_seconds": round(observation.provisioned_seconds, 3) if variant.provisioned else 0,
    }
    if variant.fan_out == "sqs":
        counters["sqs_requests"] += ESM_REQUESTS_PER_BATCH * len(workers)
    if variant.fan_out == "distributed-map":
        # One Express child per worker invocation; its duration is taken as its one task's.
        counters["express_executions"] = len(workers)
        counters["express_duration_ms"] = sum(math.ceil((r["end"] - r["start"]) * 1000) for r in workers)
    return counters
