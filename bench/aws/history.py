"""Read a Step Functions execution history: state windows, Map iterations, retries and throttles."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# GetExecutionHistory returns at most 1,000 events a page.
# Source: AWS Step Functions API reference, GetExecutionHistory.
HISTORY_PAGE_SIZE = 1000

# Events that start one attempt of a state; a state retried by its Retry block has several.
_ATTEMPTS = ("TaskScheduled", "LambdaFunctionScheduled", "MapStateStarted")
_TASK_FAILURES = (
    "TaskFailed",
    "TaskTimedOut",
    "TaskStartFailed",
    "TaskSubmitFailed",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionStartFailed",
    "LambdaFunctionScheduleFailed",
)
_EXECUTION_ENDS = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}
THROTTLE_ERROR = "Lambda.TooManyRequestsException"


@dataclass
class HistorySummary:
    """Counts and epoch-second times read from one execution history."""

    events: int = 0
    status: str | None = None  # SUCCEEDED, FAILED, TIMED_OUT, ABORTED; None while running
    error: str | None = None
    cause: str | None = None
    started: float | None = None
    ended: float | None = None
    windows: dict[str, list[float | None]] = field(default_factory=dict)  # state -> [first entered, last exited]
    state_entries: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)  # state -> attempts (Task or Map)
    task_failures: Counter[str] = field(default_factory=Counter)  # error -> failed attempts
    map_iterations: Counter[str] = field(default_factory=Counter)  # started, succeeded, failed, aborted
    map_runs: Counter[str] = field(default_factory=Counter)  # started, succeeded, failed, aborted

    def window(self, state: str) -> tuple[float, float] | None:
        """Return (entered, exited) of `state`, or None when either time is unknown."""
        entered, exited = self.windows.get(state, [None, None])
        if entered is None or exited is None:
            return None
        return entered, exited

    @property
    def retries(self) -> int:
        """Return the attempts beyond the first of each state entry, that is the Retry block's retries."""
        return sum(max(0, attempts - self.state_entries[state]) for state, attempts in self.attempts.items())

    @property
    def throttles(self) -> int:
        """Return the task attempts Lambda rejected with TooManyRequestsException."""
        return self.task_failures[THROTTLE_ERROR]

    @property
    def state_transitions(self) -> int:
        """Return the billed state transitions: every state entered, plus every retry.

        Source: AWS Step Functions pricing (retries are charged as additional
        state transitions).
        """
        return sum(self.state_entries.values()) + self.retries


def fetch_history(states: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Return every event of an execution, reading all pages of GetExecutionHistory."""
    paginator = states.get_paginator("get_execution_history")
    pages = paginator.paginate(executionArn=execution_arn, PaginationConfig={"PageSize": HISTORY_PAGE_SIZE})
    return [event for page in pages for event in page["events"]]


def event_time(event: dict[str, Any]) -> float | None:
    """Return an event's timestamp in epoch seconds; None when it is missing or a placeholder."""
    value = event.get("timestamp")
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def summarize_history(events: Iterable[dict[str, Any]]) -> HistorySummary:
    """Summarize an execution history, in any page order, into a HistorySummary."""
    ordered = sorted(events, key=lambda event: event["id"])
    summary = HistorySummary(events=len(ordered))
    state_of: dict[int, str | None] = {0: None}
    current_map: str | None = None

    for event in ordered:
        kind, moment = event["type"], event_time(event)
        state = _owning_state(event, state_of)
        if kind == "MapStateEntered":
            current_map = state
        elif kind == "MapStateStarted":
            # A retried Map state starts again after its failed iteration, whose
            # event is its predecessor, so attribute it to the Map state entered last.
            state = current_map
        state_of[event["id"]] = state

        if kind == "ExecutionStarted":
            summary.started = moment
        elif kind in _EXECUTION_ENDS:
            _record_end(summary, event, kind, moment)
        elif kind.endswith("StateEntered") and state is not None:
            summary.state_entries[state] += 1
            summary.windows.setdefault(state, [moment, None])
        elif kind.endswith("StateExited"):
            name = event.get("stateExitedEventDetails", {}).get("name", state)
            if name is not None:
                summary.windows.setdefault(name, [None, None])[1] = moment
        elif kind in _ATTEMPTS and state is not None:
            summary.attempts[state] += 1
        elif kind in _TASK_FAILURES:
            summary.task_failures[_failure_error(event, kind)] += 1
        elif kind.startswith("MapIteration"):
            summary.map_iterations[kind.removeprefix("MapIteration").lower()] += 1
        elif kind.startswith("MapRun"):
            summary.map_runs[kind.removeprefix("MapRun").lower()] += 1
    return summary


def _owning_state(event: dict[str, Any], state_of: dict[int, str | None]) -> str | None:
    """Return the state an event belongs to: its own name when it enters a state, else its predecessor's."""
    if event["type"].endswith("StateEntered"):
        return event.get("stateEnteredEventDetails", {}).get("name")
    return state_of.get(event.get("previousEventId", 0))


def _record_end(summary: HistorySummary, event: dict[str, Any], kind: str, moment: float | None) -> None:
    summary.status = _EXECUTION_ENDS[kind]
    summary.ended = moment
    details = _details(event)
    summary.error = details.get("error")
    summary.cause = details.get("cause")


def _failure_error(event: dict[str, Any], kind: str) -> str:
    error = _details(event).get("error")
    if error:
        return error
    return "States.Timeout" if kind.endswith("TimedOut") else kind


def _details(event: dict[str, Any]) -> dict[str, Any]:
    """Return the event's "...EventDetails" object (every event type has at most one)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}
