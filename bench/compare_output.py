"""The text `bench compare` prints: the comparison sections in one format, and the regression gate's verdict."""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.compare import (
    SUMMARY_KEYS,
    comparison_table,
    cost_table,
    load_comparison_frame,
    result_notes,
    sim_vs_aws_table,
    statistics_table,
)
from bench.cost import LINE_ITEMS, price_region
from bench.gate import GateResult, GateRow, regression_gate
from bench.stats import DEFAULT_ALPHA, DEFAULT_CONFIDENCE
from bench.tables import FORMATTERS, Column, render_table

SUMMARY_KINDS = {
    "variant": "text",
    "backend": "text",
    "runs": "count",
    "peak_concurrency": "count",
    "cold_starts": "count",
    "invocations": "count",
    "cost_usd": "usd",
}
STATISTICS_KINDS = {
    "failed": "count",
    "total_ci_low": "seconds",
    "total_ci_high": "seconds",
    "total_ci_level": "share",
    "total_p95": "seconds",
    "items": "count",
    "ideal_s": "seconds",
    "efficiency": "share",
    "relative": "ratio",
    "p_value": "p",
    "significant": "flag",
    "usd_per_1000_items": "usd",
}


COST_HEADERS = {
    "cost_lambda_requests": "Lambda requests",
    "cost_lambda_duration": "Lambda GB-s",
    "cost_lambda_provisioned_duration": "provisioned GB-s",
    "cost_lambda_provisioned_concurrency": "provisioned config",
    "cost_stepfunctions_state_transitions": "transitions",
    "cost_stepfunctions_express_requests": "Express requests",
    "cost_stepfunctions_express_duration": "Express GB-s",
    "cost_sqs_requests": "SQS",
    "cost_s3_get_requests": "S3 GET",
    "cost_s3_put_requests": "S3 PUT",
    "cost_dynamodb_write_requests": "DynamoDB writes",
}


@dataclass
class CompareOutput:
    """Output of `bench compare`: `text` for stdout, `messages` for stderr, and whether the gate failed."""

    text: str
    messages: list[str] = field(default_factory=list)
    regression: bool = False


def compare_results(
    paths: Sequence[Path],
    *,
    fmt: str = "table",
    baseline: str | None = None,
    cost: bool = False,
    stats: bool = False,
    against: Sequence[Path] | None = None,
    max_slowdown: float = 0.10,
    alpha: float = DEFAULT_ALPHA,
) -> CompareOutput:
    """Load the result files under `paths` and build everything `bench compare` prints.

    Terminal and Markdown output contain every section the options request.
    CSV and JSON contain one record per (variant, backend) with exactly
    SUMMARY_KEYS, or every comparison column with `stats`: the baseline's
    and the cost's columns too. Their notes and the gate's verdict go to
    `messages`, so stdout stays machine-readable. One of them notes when
    `baseline` or `cost` adds nothing because `stats` is off.
    """
    df = load_comparison_frame(paths)
    table = comparison_table(df, baseline=baseline, alpha=alpha)
    gate = regression_gate(df, load_comparison_frame(against), max_slowdown, alpha) if against else None
    costs = cost_table(df) if cost else None

    if fmt in ("csv", "json"):
        output = _machine_output(table, costs, df, gate, fmt, stats)
        if not stats and (baseline is not None or cost):
            output.messages.insert(0, f"note: {_stats_only_note(baseline, cost, fmt)}")
        return output
    return _text_output(table, costs, df, gate, fmt, stats, baseline, alpha)


def _stats_only_note(baseline: str | None, cost: bool, fmt: str) -> str:
    options = [option for option, present in (("--baseline", baseline is not None), ("--cost", cost)) if present]
    verb = "add" if len(options) > 1 else "adds"
    return f"{' and '.join(options)} {verb} {fmt} fields only with --stats; add --stats to include them"


def _machine_output(
    table: pd.DataFrame,
    costs: pd.DataFrame | None,
    df: pd.DataFrame,
    gate: GateResult | None,
    fmt: str,
    stats: bool,
) -> CompareOutput:
    columns = [Column(key, key, SUMMARY_KINDS.get(key, "seconds")) for key in SUMMARY_KEYS]
    if stats:
        if costs is not None:
            table = table.merge(costs.drop(columns=["runs", "cost_usd", "items"]), on=["variant", "backend"])
        extra = [key for key in table.columns if key not in SUMMARY_KEYS]
        columns += [Column(key, key, _statistics_kind(key)) for key in extra]

    messages = [f"note: {note}" for note in result_notes(df)]
    if costs is not None and stats:
        messages += [f"note: {note}" for note in price_notes(df)]
    if gate is not None:
        messages += gate_messages(gate)
    return CompareOutput(render_table(table, columns, fmt), messages, bool(gate and gate.regressions))


def _statistics_kind(key: str) -> str:
    if key in STATISTICS_KINDS:
        return STATISTICS_KINDS[key]
    return "usd" if key.startswith("cost_") else "seconds"


def _text_output(
    table: pd.DataFrame,
    costs: pd.DataFrame | None,
    df: pd.DataFrame,
    gate: GateResult | None,
    fmt: str,
    stats: bool,
    baseline: str | None,
    alpha: float,
) -> CompareOutput:
    sections = [comparison_section(table, df, fmt, baseline)]
    if baseline is not None and fmt == "table":
        sections.append(baseline_section(table, baseline, alpha, fmt))
    if stats:
        sections.append(statistics_section(df, fmt))
    if costs is not None:
        sections.append(cost_section(costs, fmt, price_notes(df)))
    if not (sim_vs_aws := sim_vs_aws_table(df)).empty:
        sections.append(sim_vs_aws_section(sim_vs_aws, fmt))
    if gate is not None:
        sections.append(gate_section(gate, fmt))
    return CompareOutput("\n\n".join(sections), [], bool(gate and gate.regressions))


def _title(text: str, fmt: str) -> str:
    return f"### {text}\n" if fmt == "markdown" else f"{text}\n{'-' * len(text)}"


def _notes(lines: list[str], fmt: str) -> str:
    marker = "> " if fmt == "markdown" else ""
    return "\n".join(f"{marker}{line}" for line in lines)


def comparison_section(table: pd.DataFrame, df: pd.DataFrame, fmt: str, baseline: str | None = None) -> str:
    """Return the comparison table with its interval footnote and the notes on failed or pooled runs.

    With `baseline`, Markdown adds the baseline's columns to this table; the
    terminal table leaves them to baseline_section, so it stays narrower.
    """
    intervals = [_interval(low, high) for low, high in zip(table["total_ci_low"], table["total_ci_high"])]
    display = table.assign(total_ci=intervals)
    columns = [
        Column("variant", "variant"),
        Column("backend", "backend"),
        Column("runs", "runs", "count"),
        Column("total_s", "total s", "seconds"),
        Column("total_ci", "median CI s", "text"),
        Column("orchestrator_s", "orchestrator s", "seconds"),
        Column("map_s", "map s", "seconds"),
        Column("aggregator_s", "aggregator s", "seconds"),
        Column("peak_concurrency", "peak", "count"),
        Column("cold_starts", "cold starts", "count"),
        Column("invocations", "invocations", "count"),
        Column("cost_usd", "cost USD", "usd"),
    ]
    if table["ideal_s"].notna().any():
        columns += [Column("ideal_s", "ideal s", "seconds"), Column("efficiency", "efficiency", "share")]
    if baseline is not None and fmt != "table":
        columns += baseline_columns(baseline)

    notes = [_interval_footnote(table)] + [f"note: {note}" for note in result_notes(df)]
    if table["ideal_s"].notna().any():
        notes.append(
            "ideal: items x work time / account concurrency (at least one item's work) + orchestrator + aggregator"
        )

    heading = _title("Comparison (medians over succeeded runs)", fmt)
    return f"{heading}\n{render_table(display, columns, fmt)}\n\n{_notes(notes, fmt)}"


def baseline_columns(baseline: str) -> list[Column]:
    """Return the columns that compare each row with the `baseline` variant."""
    return [
        Column("relative", f"vs {baseline}", "ratio"),
        Column("p_value", "p", "p"),
        Column("significant", "significant", "flag"),
    ]


def baseline_section(table: pd.DataFrame, baseline: str, alpha: float, fmt: str) -> str:
    """Return each row's median total against the `baseline` variant's on the same backend, with the rank test."""
    columns = [
        Column("variant", "variant"),
        Column("backend", "backend"),
        Column("runs", "runs", "count"),
        Column("total_s", "total s", "seconds"),
        *baseline_columns(baseline),
    ]
    test = f"two-sided Mann-Whitney U test on the totals, significant at p < {alpha:g}"
    title = _title(f"Against {baseline} ({test})", fmt)
    return title + "\n" + render_table(table, columns, fmt)


def _interval(low: float, high: float) -> str:
    if math.isnan(low) or math.isnan(high):
        return "-"
    return f"{low:.2f}-{high:.2f}"


def _interval_footnote(table: pd.DataFrame) -> str:
    levels = table["total_ci_level"].dropna()
    text = f"median CI: exact order-statistic interval, {DEFAULT_CONFIDENCE:.0%} where the run count allows"
    short = levels[levels < DEFAULT_CONFIDENCE - 1e-9]
    if short.empty:
        return text
    max_runs = table.loc[short.index, "runs"].max()
    return f"{text}; with {max_runs} runs or fewer it is [min, max] at {short.max():.1%} (95% needs 6 runs)"


def statistics_section(df: pd.DataFrame, fmt: str) -> str:
    """Return the per-metric statistics table."""
    columns = [
        Column("variant", "variant"),
        Column("backend", "backend"),
        Column("metric", "stage"),
        Column("runs", "runs", "count"),
        Column("median", "median s", "seconds"),
        Column("p95", "p95 s", "seconds"),
        Column("min", "min s", "seconds"),
        Column("max", "max s", "seconds"),
        Column("ci_low", "CI low s", "seconds"),
        Column("ci_high", "CI high s", "seconds"),
        Column("ci_level", "CI level", "share"),
    ]
    heading = _title("Statistics (seconds over succeeded runs)", fmt)
    return heading + "\n" + render_table(statistics_table(df), columns, fmt)


def cost_section(costs: pd.DataFrame, fmt: str, notes: Sequence[str] = ()) -> str:
    """Return the cost breakdown per run with the cost per 1,000 items, and `notes` under it.

    Markdown has one row per (variant, backend). The terminal table has one
    row per line item and one column per (variant, backend), so it stays
    narrow. Both show every value.
    """
    title = _title("Estimated cost per run (USD, median over succeeded runs; prices: bench/data/prices.json)", fmt)
    rendered = _cost_by_line_item(costs) if fmt == "table" else _cost_by_variant(costs, fmt)
    if not notes:
        return f"{title}\n{rendered}"
    return f"{title}\n{rendered}\n\n{_notes([f'note: {note}' for note in notes], fmt)}"


def _cost_items(costs: pd.DataFrame) -> list[str]:
    known = [f"cost_{item}" for item in LINE_ITEMS]
    present = [column for column in costs.columns if column.startswith("cost_") and column != "cost_usd"]
    return [column for column in known if column in present] + [column for column in present if column not in known]


def _cost_header(item: str) -> str:
    return COST_HEADERS.get(item, item.removeprefix("cost_"))


def _cost_by_variant(costs: pd.DataFrame, fmt: str) -> str:
    columns = [Column("variant", "variant"), Column("backend", "backend")]
    columns += [Column(item, _cost_header(item), "usd") for item in _cost_items(costs)]
    columns += [
        Column("cost_usd", "total", "usd"),
        Column("items", "items", "count"),
        Column("usd_per_1000_items", "per 1,000 items", "usd"),
    ]
    return render_table(costs, columns, fmt)


def _cost_by_line_item(costs: pd.DataFrame) -> str:
    lines = [(item, _cost_header(item), "usd") for item in _cost_items(costs)]
    lines += [
        ("cost_usd", "total", "usd"),
        ("usd_per_1000_items", "per 1,000 items", "usd"),
        ("items", "items", "count"),
        ("runs", "runs", "count"),
    ]
    groups = [f"{variant}\n({backend})" for variant, backend in zip(costs["variant"], costs["backend"])]
    records = costs.to_dict(orient="records")
    rows = [
        {"line": header, **{group: FORMATTERS[kind](record.get(key)) for group, record in zip(groups, records)}}
        for key, header, kind in lines
    ]
    columns = [Column("line", "line item")] + [Column(group, group, "formatted") for group in groups]
    return render_table(pd.DataFrame(rows, columns=["line", *groups]), columns, "table")


def price_notes(df: pd.DataFrame) -> list[str]:
    """Return one note per region of `df` that the price table does not list, naming the region priced instead."""
    notes = []
    for region in sorted(str(region) for region in df["region"].dropna().unique()):
        priced = price_region(region)
        if priced != region:
            notes.append(f"{region} is priced at {priced} prices: bench/data/prices.json lists none for {region}")
    return notes


def sim_vs_aws_section(table: pd.DataFrame, fmt: str) -> str:
    """Return the simulator's predictions next to the AWS measurements."""
    columns = [
        Column("variant", "variant"),
        Column("items", "items", "count"),
        Column("sim_total_s", "sim total s", "seconds"),
        Column("aws_total_s", "aws total s", "seconds"),
        Column("total_error", "total error", "percent"),
        Column("sim_map_s", "sim map s", "seconds"),
        Column("aws_map_s", "aws map s", "seconds"),
        Column("map_error", "map error", "percent"),
    ]
    return _title("Simulator against AWS (error = (sim - aws) / aws)", fmt) + "\n" + render_table(table, columns, fmt)


def gate_section(gate: GateResult, fmt: str) -> str:
    """Return the regression gate's table and its verdict lines."""
    rows = pd.DataFrame([row.__dict__ for row in gate.rows])
    columns = [
        Column("variant", "variant"),
        Column("backend", "backend"),
        Column("old_runs", "old runs", "count"),
        Column("new_runs", "new runs", "count"),
        Column("old_total_s", "old total s", "seconds"),
        Column("new_total_s", "new total s", "seconds"),
        Column("change", "change", "percent"),
        Column("p_value", "p", "p"),
        Column("verdict", "verdict"),
    ]
    title = _title(f"Regression check (limit +{gate.max_slowdown:.0%}, significance p < {gate.alpha:g})", fmt)
    return title + "\n" + render_table(rows, columns, fmt) + "\n\n" + _notes(gate_messages(gate), fmt)


def _regression_line(row: GateRow, max_slowdown: float) -> str:
    label = f"{row.variant} ({row.backend})"
    if row.new_runs == 0:
        return f"regression: {label} {row.verdict}; it succeeded in --against"
    return (
        f"regression: {label} median total {row.old_total_s:.2f} s -> {row.new_total_s:.2f} s "
        f"({row.change:+.1%}, p = {row.p_value:.3g}), above the +{max_slowdown:.0%} limit"
    )


def gate_messages(gate: GateResult) -> list[str]:
    """Return one line per regression, the gate's notes, and the overall verdict."""
    lines = [_regression_line(row, gate.max_slowdown) for row in gate.regressions]
    lines += [f"note: {note}" for note in gate.notes]
    if gate.regressions:
        failed = len(gate.regressions)
        lines.append(f"regression gate failed: {failed} of {len(gate.rows)} variants slower than allowed")
    else:
        lines.append(f"regression gate passed: no variant significantly slower than +{gate.max_slowdown:.0%}")
    return lines
