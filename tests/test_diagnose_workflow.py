"""Tests for the Step Functions part of `bench diagnose`: Map states in definitions and histories."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bench.aws.diagnose_checks import MissingPermissionError
from bench.aws.diagnose_workflow import analyse_history, check_workflow, map_states

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:per-book"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:per-book:run-1"
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


def inline_definition(max_concurrency: int = 1000) -> dict[str, Any]:
    return {
        "StartAt": "Books",
        "States": {
            "Books": {
                "Type": "Map",
                "MaxConcurrency": max_concurrency,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Enrich",
                    "States": {
                        "Enrich": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:worker:live"},
                            "End": True,
                        }
                    },
                },
                "End": True,
            }
        },
    }


def test_map_states_inline() -> None:
    states = map_states(inline_definition())

    assert len(states) == 1
    assert states[0].mode == "INLINE"
    assert states[0].max_concurrency == 1000
    assert states[0].effective_cap == 40
    assert states[0].limit_name == "inline_map_cap"
    assert states[0].functions == ["worker"]


def test_map_states_small_max_concurrency() -> None:
    states = map_states(inline_definition(max_concurrency=10))

    assert states[0].effective_cap == 10
    assert states[0].limit_name == "max_concurrency"


def test_map_states_distributed_batched() -> None:
    definition = {
        "StartAt": "Books",
        "States": {
            "Books": {
                "Type": "Map",
                "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "k"}},
                "ItemBatcher": {"MaxItemsPerBatch": 10},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:worker", "End": True}},
                },
                "End": True,
            }
        },
    }
    state = map_states(definition)[0]

    assert state.mode == "DISTRIBUTED"
    assert state.execution_type == "EXPRESS"
    assert state.batched is True
    assert state.effective_cap == 10000
    assert state.limit_name == "max_concurrency"
    assert state.functions == ["worker"]


def test_map_states_nested_and_legacy() -> None:
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Outer",
                        "States": {
                            "Outer": {
                                "Type": "Map",
                                "Iterator": {
                                    "StartAt": "Inner",
                                    "States": {"Inner": {"Type": "Map", "MaxConcurrencyPath": "$.n", "Iterator": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "End": True}},
                                },
                                "End": True,
                            }
                        },
                    }
                ],
                "End": True,
            }
        },
    }
    states = map_states(definition)

    assert [state.name for state in states] == ["Outer", "Inner"]
    assert states[0].effective_cap == 40
    assert states[1].max_concurrency is None
    assert states[1].effective_cap is None


def history_events(items: int, width: int, seconds: float) -> list[dict[str, Any]]:
    """Return an inline Map history whose iterations run `width` at a time for `seconds` each."""
    events: list[dict[str, Any]] = [
        {"id": 1, "previousEventId": 0, "timestamp": T0, "type": "ExecutionStarted",
         "executionStartedEventDetails": {"roleArn": "arn:aws:iam::123456789012:role/r"}},
        {"id": 2, "previousEventId": 1, "timestamp": T0, "type": "MapStateEntered",
         "stateEnteredEventDetails": {"name": "Books"}},
        {"id": 3, "previousEventId": 2, "timestamp": T0, "type": "MapStateStarted",
         "mapStateStartedEventDetails": {"length": items}},
    ]
    for index in range(items):
        start = T0 + timedelta(seconds=(index // width) * seconds)
        end = start + timedelta(seconds=seconds)
        events.append({"id": len(events) + 1, "previousEventId": 3, "timestamp": start, "type": "MapIterationStarted",
                       "mapIterationStartedEventDetails": {"name": "Books", "index": index}})
        events.append({"id": len(events) + 1, "previousEventId": 3, "timestamp": end, "type": "MapIterationSucceeded",
                       "mapIterationSucceededEventDetails": {"name": "Books", "index": index}})
    finish = T0 + timedelta(seconds=-(-items // width) * seconds)
    events.append({"id": len(events) + 1, "previousEventId": 3, "timestamp": finish, "type": "MapStateExited",
                   "stateExitedEventDetails": {"name": "Books"}})
    events.sort(key=lambda event: (event["timestamp"], event["id"]))
    return events


def test_history_waves_of_40() -> None:
    run = analyse_history(history_events(565, 40, 3.0))[0]

    assert run.iterations == 565
    assert run.iteration_peak == 40
    assert run.duration_s == 45.0
    assert run.failed_iterations == 0


def test_check_workflow_reads_paged_history() -> None:
    client = boto3.client("stepfunctions", region_name="us-east-1")
    events = history_events(565, 40, 3.0)
    pages = [events[0:1000], events[1000:2000], events[2000:]]
    execution = {"executionArn": EXECUTION, "stateMachineArn": MACHINE, "status": "SUCCEEDED",
                 "startDate": T0, "stopDate": T0 + timedelta(seconds=46)}

    with Stubber(client) as stubber:
        stubber.add_response("describe_execution", execution, {"executionArn": EXECUTION})
        stubber.add_response(
            "describe_state_machine",
            {"stateMachineArn": MACHINE, "name": "per-book", "definition": json.dumps(inline_definition()),
             "roleArn": "arn:aws:iam::123456789012:role/r", "type": "STANDARD", "creationDate": T0},
            {"stateMachineArn": MACHINE},
        )
        for number, page in enumerate(pages):
            response: dict[str, Any] = {"events": page}
            expected: dict[str, Any] = {"executionArn": EXECUTION, "maxResults": 1000, "includeExecutionData": False}
            if number < len(pages) - 1:
                response["nextToken"] = f"page-{number + 2}"
            if number > 0:
                expected["nextToken"] = f"page-{number + 1}"
            stubber.add_response("get_execution_history", response, expected)

        check = check_workflow(client, execution_arn=EXECUTION)
        stubber.assert_no_pending_responses()

    assert check.history_events == len(events)
    assert check.main_run.iterations == 565
    assert check.main_run.iteration_peak == 40
    assert check.main_run.duration_s == 45.0
    assert check.started == T0.timestamp()
    assert check.maps[0].effective_cap == 40


def test_check_workflow_newest_execution_in_window() -> None:
    client = boto3.client("stepfunctions", region_name="us-east-1")
    newer = {"executionArn": EXECUTION + "-late", "stateMachineArn": MACHINE, "name": "late", "status": "SUCCEEDED",
             "startDate": T0 + timedelta(hours=3), "stopDate": T0 + timedelta(hours=3, seconds=50)}
    inside = {"executionArn": EXECUTION, "stateMachineArn": MACHINE, "name": "run-1", "status": "SUCCEEDED",
              "startDate": T0, "stopDate": T0 + timedelta(seconds=46)}

    with Stubber(client) as stubber:
        stubber.add_response("list_executions", {"executions": [newer, inside]}, {"stateMachineArn": MACHINE})
        stubber.add_response(
            "describe_state_machine",
            {"stateMachineArn": MACHINE, "name": "per-book", "definition": json.dumps(inline_definition()),
             "roleArn": "arn:aws:iam::123456789012:role/r", "type": "STANDARD", "creationDate": T0},
            {"stateMachineArn": MACHINE},
        )
        stubber.add_response("get_execution_history", {"events": history_events(3, 40, 1.0)},
                             {"executionArn": EXECUTION, "maxResults": 1000, "includeExecutionData": False})
        check = check_workflow(client, state_machine_arn=MACHINE, window=(T0 - timedelta(minutes=1), T0 + timedelta(minutes=5)))

    assert check.execution_arn == EXECUTION
    assert check.main_run.iterations == 3


def test_check_workflow_access_denied_names_action() -> None:
    client = boto3.client("stepfunctions", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_execution", service_error_code="AccessDeniedException", http_status_code=400)

        with pytest.raises(MissingPermissionError, match="grant states:DescribeExecution"):
            check_workflow(client, execution_arn=EXECUTION)


# File name prefix -> (Map runs, iterations per run, failed iterations per run, Map Run ARN present).
RECORDED_HISTORIES = {
    "01": (1, [4], [1], False),
    "02": (1, [3], [0], False),
    "03": (1, [3], [1], False),
    "04": (1, [7], [1], False),
    "05": (2, [1, 1], [0, 0], True),
    "06": (1, [0], [0], True),
    "07": (0, [], [], False),
    "08": (0, [], [], False),
    "09": (1, [1], [4], False),
}


def test_recorded_histories_analysed(shared_data: Path) -> None:
    files = sorted((shared_data / "sfn_history").glob("*.json"))
    assert [path.name[:2] for path in files] == sorted(RECORDED_HISTORIES)

    for path in files:
        runs = analyse_history(json.loads(path.read_text(encoding="utf-8"))["events"])
        count, iterations, failed, map_run = RECORDED_HISTORIES[path.name[:2]]
        assert len(runs) == count, path.name
        assert [run.iterations for run in runs] == iterations, path.name
        assert [run.failed_iterations for run in runs] == failed, path.name
        assert all((run.map_run_arn is not None) == map_run for run in runs), path.name
        assert all(run.duration_s is None for run in runs), path.name
