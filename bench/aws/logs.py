"""Collect each invocation's timing line and REPORT line from CloudWatch Logs, waiting for late ones."""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.aws.clients import AwsClients
from bench.aws.errors import describe_client_error
from bench.aws.naming import FUNCTION_ROLES, VariantNames
from bench.aws.reports import parse_log_events
from bench.errors import AwsBackendError

logger = logging.getLogger(__name__)

# The key that marks a handler's JSON timing line (variants/handlers/lambda_io.py).
TIMING_MARKER = "fanout_bench_timing"
LOG_POLL_S = 5.0
# Log events are read from this long before the repetition started, to allow for clock skew.
CLOCK_SKEW_S = 300.0


@dataclass(frozen=True)
class Expectation:
    """The records a complete repetition leaves in the logs."""

    orchestrator: int = 1
    aggregator: int = 1
    worker_items: int = 0  # books the workers' timing lines must cover together


@dataclass
class CollectedLogs:
    """The timing lines of one repetition, their REPORT lines, and what is still missing."""

    timings: list[dict[str, Any]] = field(default_factory=list)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # request id -> REPORT record
    orphan_reports: list[dict[str, Any]] = field(default_factory=list)  # REPORTs with no timing line
    missing: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Return True when every expected record arrived."""
        return not self.missing


def timing_line(message: str) -> dict[str, Any] | None:
    """Return the handler timing record in a log message, or None when the message contains none.

    The record may be the whole message (text log format), follow a prefix, or
    sit in the "message" field of a JSON log record (JSON log format).
    """
    start = message.find("{")
    if start < 0 or TIMING_MARKER not in message:
        return None
    try:
        record = json.loads(message[start:])
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    if TIMING_MARKER in record:
        return record
    inner = record.get("message")
    if isinstance(inner, dict):
        return inner if TIMING_MARKER in inner else None
    return timing_line(inner) if isinstance(inner, str) else None


def read_log_group(clients: AwsClients, group: str, since: float) -> list[dict[str, Any]]:
    """Return every event of a log group from `since` (epoch seconds) on; [] when the group is absent."""
    from botocore.exceptions import ClientError

    logs = clients.client("logs")
    paginator = logs.get_paginator("filter_log_events")
    try:
        pages = paginator.paginate(logGroupName=group, startTime=int(since * 1000))
        return [event for page in pages for event in page["events"]]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return []
        raise AwsBackendError(f"could not read log group {group}: {describe_client_error(error)}") from error


def collect_logs(
    clients: AwsClients,
    names: VariantNames,
    repetition: int,
    started: float,
    expectation: Expectation,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> CollectedLogs:
    """Read the repetition's log records, polling until all expected ones arrived or `timeout_s` passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        collected = _read_once(clients, names, repetition, started - CLOCK_SKEW_S)
        collected.missing = _missing(collected, expectation)
        if collected.complete or time.monotonic() >= deadline:
            break
        logger.info("waiting for log records of repetition %d: %s", repetition, "; ".join(collected.missing))
        sleep(min(LOG_POLL_S, max(0.0, deadline - time.monotonic())))

    if collected.missing:
        logger.warning(
            "repetition %d: log records still missing after %.0f s (%s); the result is marked partial",
            repetition,
            timeout_s,
            "; ".join(collected.missing),
        )
    return collected


def _read_once(clients: AwsClients, names: VariantNames, repetition: int, since: float) -> CollectedLogs:
    collected = CollectedLogs()
    reports_by_role: dict[str, list[dict[str, Any]]] = {}
    logged_ids: set[str] = set()  # request ids with a timing line, of any repetition
    for role in FUNCTION_ROLES:
        events = read_log_group(clients, names.log_group(role), since)
        for event in events:
            record = timing_line(event.get("message", ""))
            if record is None:
                continue
            logged_ids.add(record.get("request_id", ""))
            if record.get("run_id") == names.run.run_id and record.get("repetition") == repetition:
                collected.timings.append(record)
        reports_by_role[role] = parse_log_events(events)

    own_ids = {record["request_id"] for record in collected.timings}
    span = _span(collected.timings)
    for role, reports in reports_by_role.items():
        for report in reports:
            if report["request_id"] in own_ids:
                collected.reports[report["request_id"]] = report
            elif report["request_id"] not in logged_ids and span is not None and span[0] <= report["end"] <= span[1]:
                # An invocation that ended without logging its timing line (a timeout or crash).
                collected.orphan_reports.append({**report, "function": role})
    return collected


def _span(timings: list[dict[str, Any]]) -> tuple[float, float] | None:
    """Return the repetition's time span by its timing lines, widened by a second on each side."""
    if not timings:
        return None
    return min(record["start"] for record in timings) - 1.0, max(record["end"] for record in timings) + 1.0


def _missing(collected: CollectedLogs, expectation: Expectation) -> list[str]:
    counts = {role: 0 for role in FUNCTION_ROLES}
    worker_items = 0
    for record in collected.timings:
        counts[record["function"]] = counts.get(record["function"], 0) + 1
        if record["function"] == "worker" and not record.get("error"):
            worker_items += record.get("items", 0)

    missing = []
    for role, expected in (("orchestrator", expectation.orchestrator), ("aggregator", expectation.aggregator)):
        if counts[role] < expected:
            missing.append(f"{role} timing line ({counts[role]} of {expected})")
    if worker_items < expectation.worker_items:
        missing.append(f"worker timing lines ({worker_items} of {expectation.worker_items} books)")
    without_report = [record for record in collected.timings if record["request_id"] not in collected.reports]
    if without_report:
        missing.append(f"REPORT lines ({len(without_report)} invocations have none)")
    return missing
