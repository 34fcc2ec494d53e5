"""The text report of `bench diagnose`: the checks in order, then the verdict and the what-if table."""

from datetime import datetime, timezone

from bench.aws.diagnose import Diagnosis
from bench.aws.diagnose_workflow import MapState
from bench.aws.reports import ConcurrencyProfile

# At most this many per-second concurrency values are printed in one report.
SERIES_SHOWN = 120


def format_diagnosis(diagnosis: Diagnosis) -> str:
    """Return the whole report as text."""
    sections = [
        f"Diagnosis of Lambda function {diagnosis.function} in {diagnosis.region}, "
        f"{_time(diagnosis.start)} to {_time(diagnosis.end)}",
        _metrics_section(diagnosis),
        _account_section(diagnosis),
        _function_section(diagnosis),
        _logs_section(diagnosis),
    ]
    if diagnosis.workflow is not None:
        sections.append(_workflow_section(diagnosis))
    sections.append(_verdict_section(diagnosis))
    if diagnosis.what_if:
        sections.append(_what_if_section(diagnosis))
    if diagnosis.problems:
        sections.append("Problems:\n" + "\n".join(f"  {problem}" for problem in diagnosis.problems))
    return "\n\n".join(sections)


def _time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch_time(seconds: float) -> str:
    return _time(datetime.fromtimestamp(seconds, timezone.utc))


def _metrics_section(diagnosis: Diagnosis) -> str:
    title = "1. CloudWatch ConcurrentExecutions (Maximum per 60 s)"
    metrics = diagnosis.metrics
    if metrics is None:
        return f"{title}\n  skipped (see Problems)"
    if metrics.peak is None:
        return f"{title}\n  no data points in the window\n  {metrics.note}"
    return (
        f"{title}\n  peak {metrics.peak:g} over {len(metrics.concurrency)} one-minute data points; "
        f"Throttles (Sum) {metrics.throttles:g}\n  {metrics.note}"
    )


def _account_section(diagnosis: Diagnosis) -> str:
    title = "2. Account settings (GetAccountSettings)"
    if diagnosis.account is None:
        return f"{title}\n  skipped (see Problems)"
    account = diagnosis.account
    return f"{title}\n  concurrency limit {account.limit:,}, unreserved {account.unreserved:,}"


def _function_section(diagnosis: Diagnosis) -> str:
    check = diagnosis.function_check
    reserved = "none (uses the account's unreserved concurrency)" if check.reserved is None else str(check.reserved)
    lines = ["3. Function concurrency", f"  reserved concurrency: {reserved}"]

    if check.provisioned:
        for config in check.provisioned:
            lines.append(
                f"  provisioned concurrency on {config['qualifier']}: {config['allocated']} of "
                f"{config['requested']} allocated ({config['status']})"
            )
    else:
        lines.append("  provisioned concurrency: none")

    for source in check.event_sources:
        maximum = source["maximum_concurrency"] or "not set"
        lines.append(
            f"  event source {source['arn']}: batch size {source['batch_size']}, "
            f"MaximumConcurrency {maximum}, {source['state']}"
        )
    if not check.event_sources:
        lines.append("  event source mappings: none")
    return "\n".join(lines)


def _logs_section(diagnosis: Diagnosis) -> str:
    logs = diagnosis.logs
    if logs is None:
        return "4. REPORT lines\n  skipped (see Problems)"
    title = f"4. REPORT lines in {logs.log_group}"
    if not logs.found:
        return f"{title}\n  log group not found: the function has not logged in this Region"

    profile = logs.profile
    lines = [title, f"  {logs.events_read} log events read, {profile.invocations} invocations in the window"]
    if profile.invocations:
        lines.extend(_profile_lines(profile))
    if logs.scan.init_failures:
        lines.append(f"  {len(logs.scan.init_failures)} failed or timed-out inits (INIT_REPORT lines)")
    if logs.scan.skipped:
        counts = ", ".join(f"{count} {reason}" for reason, count in sorted(logs.scan.skipped.items()))
        lines.append(f"  skipped: {counts}")
    return "\n".join(lines)


def _profile_lines(profile: ConcurrencyProfile) -> list[str]:
    lines = [
        f"  peak {profile.peak} concurrent at {_epoch_time(profile.origin + profile.peak_offset_s)}, "
        f"{profile.waves} waves, median duration {profile.median_duration_s:.3f} s, span {profile.span_s:.1f} s",
    ]
    if profile.cold_starts:
        lines.append(
            f"  cold starts {profile.cold_starts}, init median {profile.median_init_ms:.1f} ms "
            f"(min {min(profile.init_ms):.1f}, max {max(profile.init_ms):.1f})"
        )
    else:
        lines.append("  cold starts 0")
    shown = profile.series[:SERIES_SHOWN]
    more = f" ... ({len(profile.series) - SERIES_SHOWN} more)" if len(profile.series) > SERIES_SHOWN else ""
    lines.append(f"  concurrency per second: {' '.join(str(value) for value in shown)}{more}")
    return lines


def _workflow_section(diagnosis: Diagnosis) -> str:
    workflow = diagnosis.workflow
    assert workflow is not None
    lines = [f"5. State machine {workflow.state_machine_arn}"]
    for state in workflow.maps:
        lines.append(f"  Map {state.name!r}: {_map_description(state)}")
    if not workflow.maps:
        lines.append("  no Map state in the definition")

    if workflow.execution_arn is None:
        lines.append("  no execution in the window; the history was not read")
        return "\n".join(lines)
    lines.append(f"  execution {workflow.execution_arn} ({workflow.status}), {workflow.history_events} history events")
    for run in workflow.runs:
        duration = "still running" if run.duration_s is None else f"{run.duration_s:.1f} s"
        line = f"  Map {run.name!r} stage {duration}, {run.iterations} iterations"
        if run.map_run_arn:
            line += f", Map Run {run.map_run_arn} (its children are not in this history)"
        else:
            line += f", peak {run.iteration_peak} concurrent iterations"
        if run.failed_iterations:
            line += f", {run.failed_iterations} failed"
        lines.append(line)
    return "\n".join(lines)


def _map_description(state: MapState) -> str:
    if state.max_concurrency is None:
        return f"{state.mode.lower()}, MaxConcurrency set at run time by MaxConcurrencyPath"

    text = f"{state.mode.lower()}, MaxConcurrency {state.max_concurrency or 'not set'}, "
    text += f"effective {state.effective_cap} at once"
    if state.mode == "INLINE" and state.limit_name == "inline_map_cap":
        text += " (an inline Map runs at most 40 iterations at once)"
    if state.batched:
        text += ", ItemBatcher on"
    return text


def _verdict_section(diagnosis: Diagnosis) -> str:
    verdict = diagnosis.verdict
    assert verdict is not None
    lines = [f"Verdict: {verdict.headline}"]
    lines.extend(f"  {line}" for line in verdict.evidence)
    if verdict.remedy:
        lines.append(f"Try instead: {verdict.remedy}")
    return "\n".join(lines)


def _what_if_section(diagnosis: Diagnosis) -> str:
    inputs = diagnosis.what_if_inputs
    account = inputs["account_concurrency"]
    lines = [
        f"What if (simulated: {inputs['items']} items of {inputs['work_seconds']:.3f} s, "
        f"account concurrency {account if account is not None else 'default'}):",
        f"  {'variant':<12}  {'map s':>8}  {'total s':>8}  top limit",
    ]
    for prediction in diagnosis.what_if:
        map_text = "-" if prediction.map_s is None else f"{prediction.map_s:.1f}"
        top = prediction.top_limit or "-"
        if prediction.status != "succeeded":
            top = f"{top} (run {prediction.status})"
        lines.append(f"  {prediction.variant:<12}  {map_text:>8}  {prediction.total_s:>8.1f}  {top}")
    return "\n".join(lines)
