"""`bench diagnose`: run the checks on a live fan-out and name the limit that bound it.

The checks read CloudWatch metrics, the Lambda account and function settings,
the REPORT lines in the function's logs and, when given, the state machine
and one execution's history. The verdict charges the time items waited to
the concurrency cap the observed concurrency reached (see bench.attribution).
"""

import logging
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from bench.attribution import REMEDIES, ConcurrencyCap, held_item_seconds, limit_shares, sort_caps, top_limit
from bench.aws.diagnose_checks import (
    AccountCheck,
    DiagnoseClients,
    FunctionCheck,
    LogCheck,
    MetricCheck,
    check_account,
    check_function,
    check_logs,
    check_metrics,
    skip_if_denied,
)
from bench.aws.diagnose_workflow import INLINE_MAP_CAP, MapState, WorkflowCheck, check_workflow, function_name
from bench.errors import BenchError, InputError

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(hours=1)
# Margin around an execution's start and stop when it sets the window.
EXECUTION_MARGIN = timedelta(minutes=1)

_RELATIVE_TIME = re.compile(r"^-?(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass
class DiagnoseRequest:
    """A diagnosis request: the function, optionally its workflow, and the time window."""

    function: str
    execution_arn: str | None = None
    state_machine_arn: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class Verdict:
    """The binding limit, the evidence for it and what to try instead."""

    limit: str | None
    headline: str
    evidence: list[str]
    remedy: str | None
    limits: dict[str, float]  # limit -> item-seconds held back
    suspected: bool = False  # True when the limit is inferred without the workflow definition

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as JSON-ready data."""
        return {
            "limit": self.limit,
            "headline": self.headline,
            "evidence": list(self.evidence),
            "remedy": self.remedy,
            "limits": dict(self.limits),
            "shares": limit_shares(self.limits),
            "suspected": self.suspected,
        }


@dataclass
class Prediction:
    """The simulator's predicted map time for one variant."""

    variant: str
    status: str
    map_s: float | None
    total_s: float
    top_limit: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the prediction as JSON-ready data."""
        return {
            "variant": self.variant,
            "status": self.status,
            "map_s": self.map_s,
            "total_s": self.total_s,
            "top_limit": self.top_limit,
        }


@dataclass
class Diagnosis:
    """Every check's result, the verdict and the problems met on the way."""

    function: str
    region: str
    start: datetime
    end: datetime
    function_check: FunctionCheck
    metrics: MetricCheck | None
    account: AccountCheck | None
    logs: LogCheck | None
    workflow: WorkflowCheck | None
    verdict: Verdict | None = None
    problems: list[str] = field(default_factory=list)
    what_if: list[Prediction] = field(default_factory=list)
    what_if_inputs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the diagnosis as JSON-ready data."""
        return {
            "function": self.function,
            "region": self.region,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "metrics": self.metrics.to_dict() if self.metrics else None,
            "account": self.account.to_dict() if self.account else None,
            "function_settings": self.function_check.to_dict(),
            "logs": self.logs.to_dict() if self.logs else None,
            "workflow": self.workflow.to_dict() if self.workflow else None,
            "verdict": self.verdict.to_dict() if self.verdict else None,
            "problems": list(self.problems),
            "what_if": [prediction.to_dict() for prediction in self.what_if],
            "what_if_inputs": dict(self.what_if_inputs),
        }


def parse_time(value: str, option: str, now: datetime) -> datetime:
    """Parse an ISO 8601 time (UTC unless it names a zone), "now", or a time ago such as "30m" or "-2h"."""
    text = value.strip()
    if text.lower() == "now":
        return now
    relative = _RELATIVE_TIME.match(text)
    if relative:
        return now - timedelta(seconds=float(relative.group(1)) * _UNIT_SECONDS[relative.group(2)])
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option} {value!r} is not a valid time; expected ISO 8601 such as 2025-01-31T14:05:00Z, "
            "'now', or a time ago such as 30m, 2h or 1d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def run_diagnosis(
    clients: DiagnoseClients, request: DiagnoseRequest, region: str, now: datetime | None = None
) -> Diagnosis:
    """Run every check for `request` and return the diagnosis with its verdict.

    A check whose IAM permission is missing is skipped and its message, which
    names the action to grant, goes into `problems`. A function that does not
    exist raises AwsBackendError.
    """
    now = now or datetime.now(timezone.utc)
    problems: list[str] = []
    function_check = check_function(clients.lambda_, request.function)
    problems.extend(function_check.problems)

    workflow = None
    if request.execution_arn or request.state_machine_arn:
        window_hint = (request.start or now - DEFAULT_WINDOW, request.end or now)
        workflow = skip_if_denied(
            problems,
            lambda: check_workflow(clients.stepfunctions, request.execution_arn, request.state_machine_arn, window_hint),
            None,
        )
    start, end = _window(request, workflow, now)
    name = function_name(request.function)
    logger.info("diagnosing %s in %s from %s to %s", name, region, start, end)

    metrics = skip_if_denied(problems, lambda: check_metrics(clients.cloudwatch, name, start, end), None)
    account = skip_if_denied(problems, lambda: check_account(clients.lambda_), None)
    logs = skip_if_denied(
        problems,
        lambda: check_logs(clients.logs, function_check.log_group, function_check.log_format, start, end),
        None,
    )

    diagnosis = Diagnosis(
        function=name,
        region=region,
        start=start,
        end=end,
        function_check=function_check,
        metrics=metrics,
        account=account,
        logs=logs,
        workflow=workflow,
        problems=problems,
    )
    diagnosis.verdict = decide(diagnosis)
    return diagnosis


def _window(request: DiagnoseRequest, workflow: WorkflowCheck | None, now: datetime) -> tuple[datetime, datetime]:
    start, end = request.start, request.end
    if workflow is not None and workflow.started is not None:
        start = start or datetime.fromtimestamp(workflow.started, timezone.utc) - EXECUTION_MARGIN
        stopped = workflow.stopped if workflow.stopped is not None else now.timestamp()
        end = end or datetime.fromtimestamp(stopped, timezone.utc) + EXECUTION_MARGIN
    end = end or now
    start = start or end - DEFAULT_WINDOW
    if start >= end:
        raise InputError(f"--start {start.isoformat()} is not before --end {end.isoformat()}; swap or widen them")
    return start, end


def observed_caps(diagnosis: Diagnosis) -> tuple[list[ConcurrencyCap], bool]:
    """Return the concurrency caps that apply to the function, and whether the Map cap is only suspected.

    Without reserved concurrency the function can use the account's
    unreserved concurrency. Without a workflow definition, a peak of exactly
    40 over several waves is taken for an inline Map's cap.
    """
    caps: list[ConcurrencyCap] = []
    function_check = diagnosis.function_check
    if function_check.reserved is not None:
        caps.append(ConcurrencyCap("reserved_concurrency", int(function_check.reserved)))
    elif diagnosis.account is not None:
        caps.append(ConcurrencyCap("account_concurrency", diagnosis.account.unreserved))

    for source in function_check.sqs_sources:
        if source.get("maximum_concurrency"):
            caps.append(ConcurrencyCap("esm_max_concurrency", int(source["maximum_concurrency"])))

    main_map = _main_map(diagnosis.workflow)
    if main_map is not None and main_map.effective_cap is not None:
        caps.append(ConcurrencyCap(main_map.limit_name, main_map.effective_cap))

    suspected = False
    profile = diagnosis.logs.profile if diagnosis.logs else None
    if diagnosis.workflow is None and not function_check.sqs_sources and profile is not None:
        if profile.peak == INLINE_MAP_CAP and profile.waves > 1 and all(cap.value > INLINE_MAP_CAP for cap in caps):
            caps.append(ConcurrencyCap("inline_map_cap", INLINE_MAP_CAP))
            suspected = True
    return sort_caps(caps), suspected


def _main_map(workflow: WorkflowCheck | None) -> MapState | None:
    if workflow is None:
        return None
    run = workflow.main_run
    if run is not None:
        return workflow.map_state(run.name)
    return workflow.maps[0] if workflow.maps else None


def _fallback_limit(diagnosis: Diagnosis) -> str | None:
    if diagnosis.function_check.sqs_sources:
        return "esm_ramp"
    main_map = _main_map(diagnosis.workflow)
    if main_map is not None and main_map.mode == "DISTRIBUTED":
        return "distributed_dispatch_rate"
    return None


def decide(diagnosis: Diagnosis) -> Verdict:
    """Name the limit that held the fan-out back longest, with its evidence."""
    profile = diagnosis.logs.profile if diagnosis.logs else None
    if profile is None or profile.invocations == 0:
        return _verdict_without_trace(diagnosis)

    caps, suspected = observed_caps(diagnosis)
    run = diagnosis.workflow.main_run if diagnosis.workflow else None
    available_at = run.entered if run is not None and run.entered is not None else None
    if available_at is not None and available_at > profile.origin:
        available_at = None
    limits = held_item_seconds(diagnosis.logs.scan.invocations, caps, _fallback_limit(diagnosis), available_at)

    top = top_limit(limits)
    evidence = _evidence(diagnosis, caps, limits)
    if top is None:
        headline = (
            f"no limit held the fan-out back: {profile.invocations} invocations, peak {profile.peak} concurrent, "
            f"below every cap found ({_caps_text(caps) or 'none'})"
        )
        return Verdict(None, headline, evidence, None, limits)

    headline = _headline(top[0], diagnosis, caps, suspected)
    return Verdict(top[0], headline, evidence, REMEDIES.get(top[0]), limits, suspected)


def _verdict_without_trace(diagnosis: Diagnosis) -> Verdict:
    peak = diagnosis.metrics.peak if diagnosis.metrics else None
    evidence = ["no REPORT lines found in the window, so concurrency cannot be rebuilt per second"]
    if peak is not None:
        evidence.append(f"CloudWatch ConcurrentExecutions peaked at {peak:g} (per-minute maximum)")
    headline = "no verdict: no invocations of the function were found in the window; widen --start/--end"
    return Verdict(None, headline, evidence, None, {})


def _cap_phrase(cap: ConcurrencyCap, diagnosis: Diagnosis) -> str:
    if cap.name == "account_concurrency" and diagnosis.account is not None:
        account = diagnosis.account
        if account.unreserved != account.limit:
            return f"account concurrency limit of {account.limit:,} ({account.unreserved:,} unreserved)"
        return f"account concurrency limit of {account.limit:,}"
    phrases = {
        "inline_map_cap": f"inline Map concurrency cap of {cap.value}",
        "max_concurrency": f"Map MaxConcurrency of {cap.value}",
        "reserved_concurrency": f"reserved concurrency of {cap.value} on {diagnosis.function}",
        "esm_max_concurrency": f"event source mapping MaximumConcurrency of {cap.value}",
    }
    return phrases.get(cap.name, f"{cap.name.replace('_', ' ')} of {cap.value}")


def _caps_text(caps: list[ConcurrencyCap]) -> str:
    return ", ".join(f"{cap.name} {cap.value:,}" for cap in caps)


def _headline(limit: str, diagnosis: Diagnosis, caps: list[ConcurrencyCap], suspected: bool) -> str:
    profile = diagnosis.logs.profile  # type: ignore[union-attr]
    run = diagnosis.workflow.main_run if diagnosis.workflow else None
    count, noun = (run.iterations, "iterations") if run is not None and run.iterations else (
        profile.invocations, "invocations")
    ran = f"{count:,} {noun} ran in {profile.waves} waves, peak {profile.peak} concurrent"

    if limit == "esm_ramp":
        rise = f"from {profile.series[0]} to {profile.peak}" if profile.series else f"to {profile.peak}"
        return (
            f"SQS event source mapping ramp: concurrency rose {rise} over {profile.peak_offset_s:.0f} s "
            f"while messages waited, below every concurrency cap ({_caps_text(caps) or 'none'}); {ran}"
        )
    if limit == "distributed_dispatch_rate":
        return f"distributed Map child start rate: children started below every concurrency cap; {ran}"

    cap = next(cap for cap in caps if cap.name == limit)
    phrase = _cap_phrase(cap, diagnosis)
    larger = [other for other in caps if other.value > cap.value]
    if larger:
        phrase += f", not the {_cap_phrase(larger[-1], diagnosis)}"
    details = [ran]
    account = diagnosis.account
    if account is not None and diagnosis.function_check.reserved is None and limit != "account_concurrency":
        details.append(f"account headroom {max(0, account.unreserved - profile.peak):,} unused")
    if diagnosis.metrics is not None and diagnosis.metrics.throttles:
        details.append(f"{diagnosis.metrics.throttles:,.0f} throttles")
    if suspected:
        details.append("suspected from the peak alone: pass --execution or --state-machine to confirm")
    return f"{phrase}: {', '.join(details)}"


def _evidence(diagnosis: Diagnosis, caps: list[ConcurrencyCap], limits: dict[str, float]) -> list[str]:
    profile = diagnosis.logs.profile  # type: ignore[union-attr]
    lines = []
    for cap in caps:
        state = "reached" if profile.peak >= cap.value else f"{cap.value - profile.peak:,} unused"
        lines.append(f"{cap.name} {cap.value:,}: {state} (peak {profile.peak})")
    if diagnosis.metrics is not None and diagnosis.metrics.peak is not None:
        lines.append(f"CloudWatch ConcurrentExecutions per-minute maximum {diagnosis.metrics.peak:g}")
    shares = limit_shares(limits)
    for name, share in sorted(shares.items(), key=lambda pair: -pair[1]):
        lines.append(f"items held back by {name}: {limits[name]:,.1f} item-s ({share:.0%})")
    return lines


def what_if(diagnosis: Diagnosis) -> list[Prediction]:
    """Simulate every variant with the observed item count, worker duration and account limit.

    The median REPORT duration becomes the per-item work time, and the item
    count is the Map's iterations, or the number of invocations without a
    workflow. Raises BenchError when there is no trace to take them from.
    """
    from bench.sim import AwsRules, simulate
    from bench.workload import Workload
    from variants import VARIANTS

    inputs = what_if_inputs(diagnosis)
    rules = AwsRules.for_region(diagnosis.region)
    if inputs["account_concurrency"] is not None:
        rules = rules.with_overrides({"account_concurrency": inputs["account_concurrency"]})
    items = [{"id": index, "title": f"item {index}"} for index in range(1, inputs["items"] + 1)]

    predictions = []
    for variant in VARIANTS.values():
        repetition = simulate(variant, items=items, workload=Workload(work_seconds=inputs["work_seconds"]),
                              rules=rules, seed=0)
        window = repetition.stages.get("map")
        top = top_limit(repetition.limits)
        predictions.append(
            Prediction(
                variant=variant.name,
                status=repetition.status,
                map_s=None if window is None else window[1] - window[0],
                total_s=repetition.total_s,
                top_limit=top[0] if top else None,
            )
        )
    diagnosis.what_if = predictions
    diagnosis.what_if_inputs = inputs
    return predictions


def what_if_inputs(diagnosis: Diagnosis) -> dict[str, Any]:
    """Return the observed item count, median worker seconds and account limit the what-if uses."""
    scan = diagnosis.logs.scan if diagnosis.logs else None
    if scan is None or not scan.invocations:
        raise BenchError(
            f"--what-if needs the REPORT lines of {diagnosis.function}, and none were found between "
            f"{diagnosis.start.isoformat()} and {diagnosis.end.isoformat()}; widen --start/--end"
        )
    run = diagnosis.workflow.main_run if diagnosis.workflow else None
    items = run.iterations if run is not None and run.iterations else len(scan.invocations)
    durations = [record["duration_ms"] / 1000.0 for record in scan.invocations]
    return {
        "items": items,
        "work_seconds": round(statistics.median(durations), 6),
        "account_concurrency": diagnosis.account.limit if diagnosis.account else None,
    }
