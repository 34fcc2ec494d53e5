"""The Step Functions part of `bench diagnose`: Map states in the definition and Map timing in the history."""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench.aws.diagnose_checks import AwsBackendError, aws_errors, paginate
from bench.aws.reports import concurrency_steps

logger = logging.getLogger(__name__)

# An inline Map runs at most 40 iterations at once, even with a larger MaxConcurrency.
# Source: AWS Step Functions developer guide, "Inline Map state".
INLINE_MAP_CAP = 40
# A distributed Map runs up to 10,000 child executions at once.
# Source: AWS Step Functions developer guide, "Distributed Map state".
DISTRIBUTED_MAP_CAP = 10000

ITERATION_ENDS = ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted")


@dataclass
class MapState:
    """One Map state of a state machine definition."""

    name: str
    mode: str  # "INLINE" or "DISTRIBUTED"
    max_concurrency: int | None  # None when MaxConcurrencyPath sets it at run time
    execution_type: str | None  # the children's workflow type for a distributed Map
    batched: bool  # True when an ItemBatcher groups items
    functions: list[str] = field(default_factory=list)  # Lambda functions its iterations invoke

    @property
    def effective_cap(self) -> int | None:
        """Return how many iterations can run at once; None when MaxConcurrencyPath decides."""
        if self.max_concurrency is None:
            return None
        if self.mode == "INLINE":
            return min(self.max_concurrency, INLINE_MAP_CAP) if self.max_concurrency > 0 else INLINE_MAP_CAP
        return min(self.max_concurrency, DISTRIBUTED_MAP_CAP) if self.max_concurrency > 0 else DISTRIBUTED_MAP_CAP

    @property
    def limit_name(self) -> str:
        """Return the binding-limit name of this Map's cap."""
        if self.mode == "INLINE" and not (self.max_concurrency and self.max_concurrency < INLINE_MAP_CAP):
            return "inline_map_cap"
        return "max_concurrency"

    def to_dict(self) -> dict[str, Any]:
        """Return the Map state as JSON-ready data."""
        return {
            "name": self.name,
            "mode": self.mode,
            "max_concurrency": self.max_concurrency,
            "effective_cap": self.effective_cap,
            "execution_type": self.execution_type,
            "batched": self.batched,
            "functions": list(self.functions),
        }


def map_states(definition: dict[str, Any]) -> list[MapState]:
    """Return every Map state in an Amazon States Language definition, nested ones included."""
    found: list[MapState] = []
    _walk_states(definition.get("States") or {}, found)
    return found


def _walk_states(states: dict[str, Any], found: list[MapState]) -> None:
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        if state.get("Type") == "Map":
            found.append(_map_state(name, state))
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            _walk_states(processor.get("States") or {}, found)
        for branch in state.get("Branches") or []:
            _walk_states(branch.get("States") or {}, found)


def _map_state(name: str, state: dict[str, Any]) -> MapState:
    processor = state.get("ItemProcessor") or state.get("Iterator") or {}
    config = processor.get("ProcessorConfig") or {}
    mode = str(config.get("Mode") or "INLINE").upper()
    max_concurrency = None if "MaxConcurrencyPath" in state else int(state.get("MaxConcurrency") or 0)
    return MapState(
        name=name,
        mode=mode,
        max_concurrency=max_concurrency,
        execution_type=config.get("ExecutionType") if mode == "DISTRIBUTED" else None,
        batched="ItemBatcher" in state,
        functions=_invoked_functions(processor.get("States") or {}),
    )


def _invoked_functions(states: dict[str, Any]) -> list[str]:
    """Return the Lambda function names or ARNs that Task states invoke, without qualifiers."""
    functions: list[str] = []
    for state in states.values():
        if not isinstance(state, dict) or state.get("Type") != "Task":
            continue
        resource = str(state.get("Resource") or "")
        target = (state.get("Parameters") or state.get("Arguments") or {}).get("FunctionName")
        if resource.startswith("arn:aws:states:::lambda:invoke") and isinstance(target, str):
            functions.append(function_name(target))
        elif ":lambda:" in resource and ":function:" in resource:
            functions.append(function_name(resource))
    return functions


def function_name(reference: str) -> str:
    """Return the function name in a Lambda ARN or "NAME:QUALIFIER" reference."""
    if ":function:" in reference:
        return reference.split(":function:", 1)[1].split(":", 1)[0]
    return reference.split(":", 1)[0]


@dataclass
class MapRun:
    """One run of a Map state, read from the execution history."""

    name: str
    entered: float | None  # epoch seconds
    exited: float | None
    iterations: int  # items the Map received, or iterations seen when it did not say
    iteration_peak: int  # largest number of iterations running at once
    failed_iterations: int
    map_run_arn: str | None = None  # distributed Map only; its children are not in this history

    @property
    def duration_s(self) -> float | None:
        """Return the Map stage duration in seconds, None while it runs."""
        if self.entered is None or self.exited is None:
            return None
        return self.exited - self.entered

    def to_dict(self) -> dict[str, Any]:
        """Return the Map run as JSON-ready data."""
        return {
            "name": self.name,
            "entered": self.entered,
            "exited": self.exited,
            "duration_s": self.duration_s,
            "iterations": self.iterations,
            "iteration_peak": self.iteration_peak,
            "failed_iterations": self.failed_iterations,
            "map_run_arn": self.map_run_arn,
        }


def analyse_history(events: list[dict[str, Any]]) -> list[MapRun]:
    """Return the Map runs in an execution history: timing, iteration count and peak concurrency.

    A Map state entered twice (inside a loop) gives two runs. Events without
    a usable timestamp still count iterations and failures.
    """
    by_id = {event["id"]: event for event in events}
    runs: list[MapRun] = []
    current: dict[str, MapRun] = {}  # Map state name -> its latest run
    entered_runs: dict[int, MapRun] = {}  # MapStateEntered event id -> run
    spans: dict[int, dict[int, list[float | None]]] = {}  # id(run) -> iteration index -> times

    for event in events:
        kind = event["type"]
        moment = _epoch(event.get("timestamp"))
        if kind == "MapStateEntered":
            run = MapRun(event["stateEnteredEventDetails"]["name"], moment, None, 0, 0, 0)
            runs.append(run)
            current[run.name] = run
            entered_runs[event["id"]] = run
        elif kind == "MapStateExited":
            run = current.get(event["stateExitedEventDetails"]["name"])
            if run is not None:
                run.exited = moment
        elif kind in ("MapStateStarted", "MapRunStarted"):
            run = _run_entered_before(event, by_id, entered_runs)
            if run is not None:
                _read_start_details(run, event)
        elif kind == "MapIterationStarted" or kind in ITERATION_ENDS:
            _record_iteration(event, kind, moment, current, spans)

    for run in runs:
        _summarise_iterations(run, spans.get(id(run), {}))
    return runs


def _read_start_details(run: MapRun, event: dict[str, Any]) -> None:
    if event["type"] == "MapStateStarted":
        run.iterations = int((event.get("mapStateStartedEventDetails") or {}).get("length") or 0)
    else:
        run.map_run_arn = (event.get("mapRunStartedEventDetails") or {}).get("mapRunArn")


def _run_entered_before(
    event: dict[str, Any], by_id: dict[int, dict[str, Any]], entered_runs: dict[int, MapRun]
) -> MapRun | None:
    """Follow previousEventId back to the MapStateEntered event this event belongs to."""
    current = by_id.get(event.get("previousEventId"))
    while current is not None and current["type"] != "MapStateEntered":
        current = by_id.get(current.get("previousEventId"))
    return None if current is None else entered_runs.get(current["id"])


def _record_iteration(
    event: dict[str, Any],
    kind: str,
    moment: float | None,
    current: dict[str, MapRun],
    spans: dict[int, dict[int, list[float | None]]],
) -> None:
    details = event.get(_details_key(kind)) or {}
    run = current.get(details.get("name"))
    index = details.get("index")
    if run is None or index is None:
        return
    spans.setdefault(id(run), {}).setdefault(index, []).append(moment)
    if kind == "MapIterationFailed":
        run.failed_iterations += 1


def _details_key(kind: str) -> str:
    # "MapIterationSucceeded" -> "mapIterationSucceededEventDetails"
    return kind[0].lower() + kind[1:] + "EventDetails"


def _summarise_iterations(run: MapRun, spans: dict[int, list[float | None]]) -> None:
    run.iterations = max(run.iterations, len(spans))
    closed = [
        {"start": times[0], "end": times[-1]}
        for times in spans.values()
        if len(times) >= 2 and times[0] is not None and times[-1] is not None
    ]
    steps = concurrency_steps(closed)
    run.iteration_peak = max((running for _, running in steps), default=0)


def _epoch(value: Any) -> float | None:
    """Return a history timestamp as epoch seconds, None when it is not a time."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


@dataclass
class WorkflowCheck:
    """The state machine's Map states and the Map runs of one execution."""

    state_machine_arn: str
    execution_arn: str | None
    status: str | None
    started: float | None
    stopped: float | None
    maps: list[MapState]
    runs: list[MapRun]
    history_events: int

    @property
    def main_run(self) -> MapRun | None:
        """Return the Map run with the most iterations."""
        return max(self.runs, key=lambda run: run.iterations, default=None)

    def map_state(self, name: str) -> MapState | None:
        """Return the definition of the Map state called `name`."""
        return next((state for state in self.maps if state.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return {
            "state_machine_arn": self.state_machine_arn,
            "execution_arn": self.execution_arn,
            "status": self.status,
            "started": self.started,
            "stopped": self.stopped,
            "maps": [state.to_dict() for state in self.maps],
            "runs": [run.to_dict() for run in self.runs],
            "history_events": self.history_events,
        }


def check_workflow(
    stepfunctions: Any,
    execution_arn: str | None = None,
    state_machine_arn: str | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> WorkflowCheck:
    """Read a state machine's definition and, for one execution, its history.

    With only `state_machine_arn`, the newest execution that overlaps
    `window` is analysed; when there is none, only the definition is.
    """
    execution: dict[str, Any] | None = None
    if execution_arn:
        with aws_errors(stepfunctions, f"reading execution {execution_arn}"):
            execution = stepfunctions.describe_execution(executionArn=execution_arn)
        state_machine_arn = execution["stateMachineArn"]
    elif state_machine_arn:
        execution = _newest_execution(stepfunctions, state_machine_arn, window)
    if not state_machine_arn:
        raise AwsBackendError("no state machine to read; pass --execution ARN or --state-machine ARN")

    with aws_errors(stepfunctions, f"reading state machine {state_machine_arn}"):
        definition = json.loads(stepfunctions.describe_state_machine(stateMachineArn=state_machine_arn)["definition"])

    events = _history(stepfunctions, execution["executionArn"]) if execution else []
    return WorkflowCheck(
        state_machine_arn=state_machine_arn,
        execution_arn=execution["executionArn"] if execution else None,
        status=execution.get("status") if execution else None,
        started=_epoch(execution.get("startDate")) if execution else None,
        stopped=_epoch(execution.get("stopDate")) if execution else None,
        maps=map_states(definition),
        runs=analyse_history(events),
        history_events=len(events),
    )


def _newest_execution(
    stepfunctions: Any, state_machine_arn: str, window: tuple[datetime, datetime] | None
) -> dict[str, Any] | None:
    with aws_errors(stepfunctions, f"listing the executions of {state_machine_arn}"):
        for execution in paginate(stepfunctions, "list_executions", "executions", stateMachineArn=state_machine_arn):
            if window is None or _overlaps(execution, window):
                return execution
    logger.warning("no execution of %s overlaps the window; analysing the definition only", state_machine_arn)
    return None


def _overlaps(execution: dict[str, Any], window: tuple[datetime, datetime]) -> bool:
    start, end = window
    stopped = execution.get("stopDate")
    return execution["startDate"] < end and (stopped is None or stopped > start)


def _history(stepfunctions: Any, execution_arn: str) -> list[dict[str, Any]]:
    # GetExecutionHistory returns at most 1,000 events a page. The events'
    # inputs and outputs are left out because only their types and times are read.
    # Source: AWS Step Functions API reference, GetExecutionHistory.
    with aws_errors(stepfunctions, f"reading the history of {execution_arn}"):
        return list(
            paginate(stepfunctions, "get_execution_history", "events", executionArn=execution_arn,
                     includeExecutionData=False, PaginationConfig={"PageSize": 1000})
        )
