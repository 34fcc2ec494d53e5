"""The execution-history collector on recorded Step Functions histories and paginated reads."""

import copy
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bench.aws.history import HISTORY_PAGE_SIZE, event_time, fetch_history, summarize_history

EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:pipeline:rep0"


def recorded(shared_data: Path, name: str) -> list[dict[str, Any]]:
    document = json.loads((shared_data / "sfn_history" / name).read_text())
    return document["events"]


def timed(events: list[dict[str, Any]], start: datetime, step_s: float = 0.5) -> list[dict[str, Any]]:
    """Return a copy of `events` with real timestamps, `step_s` apart in id order."""
    copies = copy.deepcopy(events)
    for event in copies:
        event["timestamp"] = datetime.fromtimestamp(start.timestamp() + (event["id"] - 1) * step_s, tz=timezone.utc)
    return copies


def as_api_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return events as the API sends them: the recordings store inputs and outputs as JSON objects."""
    copies = copy.deepcopy(events)
    for event in copies:
        for key, details in event.items():
            if key.endswith("EventDetails"):
                for field in ("input", "output", "parameters"):
                    if field in details and not isinstance(details[field], str):
                        details[field] = json.dumps(details[field])
    return copies


def test_inline_map_with_timed_out_tasks(shared_data: Path) -> None:
    summary = summarize_history(recorded(shared_data, "01_ls_map_inline_lambda_task_timeout.json"))

    assert summary.events == 33
    assert summary.status == "FAILED"
    assert summary.error == "States.Timeout"
    assert summary.map_iterations == {"started": 4, "failed": 1, "aborted": 3}
    assert summary.attempts["LambdaInvoke"] == 4
    assert summary.task_failures == {"States.Timeout": 4}
    assert summary.retries == 0


def test_failed_iterations_caught_by_fallback(shared_data: Path) -> None:
    summary = summarize_history(recorded(shared_data, "02_ls_map_inline_lambda_taskfailed_caught.json"))

    assert summary.status == "SUCCEEDED"
    assert summary.map_iterations == {"started": 3, "succeeded": 3}
    assert summary.task_failures == {"Exception": 3}
    assert summary.state_entries == {"ProcessItems": 1, "ProcessItem": 3, "Fallback": 3}
    assert summary.state_transitions == 7


def test_retried_task_in_inline_map(shared_data: Path) -> None:
    summary = summarize_history(recorded(shared_data, "03_ls_map_inline_lambda_retry_then_fail.json"))

    assert summary.attempts["ProcessItem"] == 2
    assert summary.retries == 1
    assert summary.state_transitions == 4
    assert summary.status == "FAILED"
    assert summary.map_iterations == {"started": 1, "failed": 1}


def test_retries_of_legacy_lambda_task(shared_data: Path) -> None:
    summary = summarize_history(recorded(shared_data, "07_ls_lambda_invoke_retry_base.json"))

    assert summary.attempts == {"InvokeLambdaWithRetry": 4}
    assert summary.retries == 3
    assert summary.task_failures == {"Exception": 4}
    assert summary.state_transitions == 5


def test_retried_map_state(shared_data: Path) -> None:
    summary = summarize_history(recorded(shared_data, "09_ls_map_retry_multiple_retriers.json"))

    assert summary.attempts == {"MapState": 4}
    assert summary.retries == 3
    assert summary.map_iterations == {"started": 4, "failed": 4}
    assert summary.error == "HandleItemFailError"


def test_distributed_map_runs(shared_data: Path) -> None:
    summary = summarize_history(recorded(shared_data, "05_ls_distributed_map_maprun_reentrant_lambda.json"))

    assert summary.map_runs == {"started": 2, "succeeded": 2}
    assert summary.map_iterations == {}
    assert summary.status == "SUCCEEDED"


def test_failed_map_run(shared_data: Path) -> None:
    summary = summarize_history(recorded(shared_data, "06_ls_distributed_map_csv_reader_maprunfailed.json"))

    assert summary.map_runs == {"started": 1, "failed": 1}
    assert summary.status == "FAILED"
    assert summary.error == "States.ItemReaderFailed"
    assert summary.window("MapState") is None


def test_placeholder_timestamps_give_no_windows(shared_data: Path) -> None:
    summary = summarize_history(recorded(shared_data, "02_ls_map_inline_lambda_taskfailed_caught.json"))

    assert summary.window("ProcessItems") is None
    assert summary.started is None


def test_state_windows_from_timestamps(shared_data: Path) -> None:
    start = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)
    events = timed(recorded(shared_data, "02_ls_map_inline_lambda_taskfailed_caught.json"), start)
    summary = summarize_history(events)

    # MapStateEntered is event 2 and MapStateExited event 32, at 0.5 s per event.
    assert summary.window("ProcessItems") == (start.timestamp() + 0.5, start.timestamp() + 15.5)
    assert summary.started == start.timestamp()
    assert summary.ended == start.timestamp() + 16.0


def test_throttled_attempts_counted(shared_data: Path) -> None:
    events = copy.deepcopy(recorded(shared_data, "03_ls_map_inline_lambda_retry_then_fail.json"))
    for event in events:
        if event["type"] == "TaskFailed":
            event["taskFailedEventDetails"]["error"] = "Lambda.TooManyRequestsException"
    summary = summarize_history(events)

    assert summary.throttles == 2


def test_event_order_does_not_matter(shared_data: Path) -> None:
    events = recorded(shared_data, "01_ls_map_inline_lambda_task_timeout.json")
    forward = summarize_history(events)
    backward = summarize_history(list(reversed(events)))

    assert backward == forward


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 1, 5, tzinfo=timezone.utc), datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp()),
        ("2021-12-02T19:39:48.988000+00:00", datetime(2021, 12, 2, 19, 39, 48, 988000, tzinfo=timezone.utc).timestamp()),
        ("timestamp", None),
        (None, None),
    ],
)
def test_event_time_forms(value: Any, expected: float | None) -> None:
    assert event_time({"timestamp": value}) == expected


def test_history_read_over_several_pages(shared_data: Path) -> None:
    start = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)
    events = as_api_events(timed(recorded(shared_data, "01_ls_map_inline_lambda_task_timeout.json"), start))
    states = boto3.client("stepfunctions", region_name="us-east-1")
    stubber = Stubber(states)
    pages = [events[:12], events[12:24], events[24:]]
    for number, page in enumerate(pages):
        expected = {"executionArn": EXECUTION_ARN, "maxResults": HISTORY_PAGE_SIZE}
        if number:
            expected["nextToken"] = f"page-{number}"
        response: dict[str, Any] = {"events": page}
        if number < len(pages) - 1:
            response["nextToken"] = f"page-{number + 1}"
        stubber.add_response("get_execution_history", response, expected)

    with stubber:
        fetched = fetch_history(states, EXECUTION_ARN)

    stubber.assert_no_pending_responses()
    assert [event["id"] for event in fetched] == list(range(1, 34))
    assert summarize_history(fetched) == summarize_history(events)
