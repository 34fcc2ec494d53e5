"""Comparison tables over result files: per-variant medians and statistics, cost, and sim against AWS.

Notebook use::

    from bench.compare import comparison_table, load_comparison_frame
    df = load_comparison_frame(["results/"])
    comparison_table(df, baseline="per-book")

`bench.results.load_results` gives the same rows without the cost line items
and workload parameters; every table here also accepts its output.
"""

import hashlib
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import InputError
from bench.results import iter_documents, repetition_rows
from bench.stats import DEFAULT_ALPHA, DEFAULT_CONFIDENCE, compare_samples, summarize
from variants import VARIANTS

# Keys of one `bench compare --format json` object, in order.
SUMMARY_KEYS = (
    "variant",
    "backend",
    "runs",
    "total_s",
    "orchestrator_s",
    "map_s",
    "aggregator_s",
    "peak_concurrency",
    "cold_starts",
    "invocations",
    "cost_usd",
)
TIME_METRICS = ("total_s", "orchestrator_s", "map_s", "aggregator_s")
# The summary columns after the total: each is a plain median over succeeded runs.
MEDIAN_METRICS = SUMMARY_KEYS[SUMMARY_KEYS.index("total_s") + 1 :]
BACKEND_ORDER = ("sim", "aws")
COST_PREFIX = "cost_"

# Parameters that vary between runs without changing what a repetition measures.
# "knobs" are the command-line knob values. Their effect on a variant is already in
# its description, and a knob that does not apply to a variant leaves it unchanged.
RUN_ONLY_PARAMETERS = ("seed", "repetitions", "knobs", "timeout_s", "kept_resources")
# Settings keys that are not parameters; a parameter of the same name is shown as parameters.NAME.
SETTINGS_TOP_KEYS = ("variant", "input", "backend", "region")
MAX_SHOWN_DIFFERENCES = 6
MAX_SHOWN_FILES = 3
UNSET = "(unset)"


def load_comparison_frame(paths: Iterable[Path | str]) -> pd.DataFrame:
    """Load every result file under `paths`, one row per repetition.

    The columns are those of bench.results.load_results plus `error`, one
    `cost_<line item>` column per cost line item, the run's `work_seconds`
    and `account_concurrency` when its parameters record them, `settings`
    (see run_settings) and `settings_sha256` (see settings_fingerprint).
    Raises ResultFileError naming the file when none is found or one is
    corrupt or of an unknown version.
    """
    rows: list[dict[str, Any]] = []
    for path, document in iter_documents([Path(path) for path in paths]):
        parameters = _run_parameters(document)
        settings = {run["variant"]["name"]: run_settings(document, run["variant"]) for run in document["variants"]}
        repetitions = [repetition for run in document["variants"] for repetition in run["repetitions"]]
        for row, repetition in zip(repetition_rows(path, document), repetitions):
            row["error"] = repetition.get("error")
            row["settings"] = settings[row["variant"]]
            row["settings_sha256"] = settings_fingerprint(row["settings"])
            for item, usd in repetition.get("cost_usd", {}).items():
                if item != "total":
                    row[COST_PREFIX + item] = usd
            row.update(parameters)
            rows.append(row)
    return pd.DataFrame(rows)


def run_settings(document: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """Return the settings that shape one variant's repetitions in a result document, flattened to dotted keys.

    They are the variant's description (keys "variant.*"), the run's
    parameters except RUN_ONLY_PARAMETERS (keys as nested in "parameters",
    such as "workload.jitter" and "rules.worker_init_s"), the input's
    checksum and item count ("input.sha256", "input.items"), the backend and
    the region. Runs that differ only in seed or repetitions have equal settings.
    """
    parameters = {
        name: value for name, value in document.get("parameters", {}).items() if name not in RUN_ONLY_PARAMETERS
    }
    settings = _flatten(variant, "variant.")
    for name, value in _flatten(parameters, "").items():
        clashes = name.split(".")[0] in SETTINGS_TOP_KEYS
        settings["parameters." + name if clashes else name] = value

    settings["input.sha256"] = document["input"].get("sha256")
    settings["input.items"] = document["input"].get("items")
    settings["backend"] = document["backend"]
    settings["region"] = document["region"]
    return settings


def _flatten(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """Return the SHA-256 of the settings as canonical JSON (sorted keys, no spaces): equal settings, equal hash."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _run_parameters(document: dict[str, Any]) -> dict[str, float]:
    """Return work_seconds and account_concurrency from wherever the run's parameters nest them."""
    found: dict[str, float] = {}
    for name in ("work_seconds", "account_concurrency"):
        value = _find_key(document.get("parameters", {}), name)
        if value is None:
            value = _find_key(document.get("environment", {}), name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found[name] = float(value)
    return found


def _find_key(data: Any, name: str) -> Any:
    if isinstance(data, dict):
        if name in data:
            return data[name]
        for value in data.values():
            found = _find_key(value, name)
            if found is not None:
                return found
    return None


def group_order(df: pd.DataFrame) -> list[tuple[str, str]]:
    """Return the (variant, backend) pairs of `df`: known variants in registry order, then others by name."""
    known = list(VARIANTS)
    pairs = {(str(variant), str(backend)) for variant, backend in zip(df["variant"], df["backend"])}

    def sort_key(pair: tuple[str, str]) -> tuple[int, str, int, str]:
        variant, backend = pair
        variant_rank = known.index(variant) if variant in known else len(known)
        backend_rank = BACKEND_ORDER.index(backend) if backend in BACKEND_ORDER else len(BACKEND_ORDER)
        return variant_rank, variant, backend_rank, backend

    return sorted(pairs, key=sort_key)


def succeeded(df: pd.DataFrame) -> pd.DataFrame:
    """Return the rows of repetitions that succeeded."""
    return df[df["status"] == "succeeded"]


def group_rows(df: pd.DataFrame, variant: str, backend: str) -> pd.DataFrame:
    """Return the rows of one (variant, backend)."""
    return df[(df["variant"] == variant) & (df["backend"] == backend)]


def median_of(values: pd.Series) -> float:
    """Return the median of the numeric values, ignoring NaN; NaN when there is none."""
    sample = pd.to_numeric(values, errors="coerce").dropna()
    return float(sample.median()) if len(sample) else math.nan


def comparison_table(
    df: pd.DataFrame,
    baseline: str | None = None,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = DEFAULT_CONFIDENCE,
) -> pd.DataFrame:
    """Return one row per (variant, backend) with medians over its succeeded repetitions.

    Columns: the SUMMARY_KEYS, then `failed` (repetitions that did not
    succeed), the median total's confidence interval (`total_ci_low`,
    `total_ci_high`, `total_ci_level`), `total_p95`, `items`, `ideal_s` and
    `efficiency` (see ideal_seconds). With `baseline`, adds `relative`
    (median total / the baseline's median total on the same backend),
    `p_value` (two-sided Mann-Whitney U on the totals) and `significant`
    (p_value < alpha). Raises InputError when the baseline variant has no
    succeeded repetition.
    """
    rows = [
        _summary_row(group_rows(df, variant, backend), variant, backend, confidence)
        for variant, backend in group_order(df)
    ]
    table = pd.DataFrame(rows)
    if baseline is not None:
        table = add_baseline_columns(table, df, baseline, alpha)
    return table


def _summary_row(group: pd.DataFrame, variant: str, backend: str, confidence: float) -> dict[str, Any]:
    ok = succeeded(group)
    total = summarize(ok["total_s"].tolist(), confidence)
    row: dict[str, Any] = {"variant": variant, "backend": backend, "runs": len(ok), "total_s": total.median}
    for metric in MEDIAN_METRICS:
        row[metric] = median_of(ok[metric]) if metric in ok else math.nan

    row.update(
        failed=len(group) - len(ok),
        total_ci_low=total.ci_low,
        total_ci_high=total.ci_high,
        total_ci_level=total.ci_level,
        total_p95=total.p95,
        items=median_of(ok["items"]) if "items" in ok else math.nan,
    )
    row["ideal_s"] = ideal_seconds(
        row["items"],
        median_of(ok["work_seconds"]) if "work_seconds" in ok else math.nan,
        median_of(ok["account_concurrency"]) if "account_concurrency" in ok else math.nan,
        row["orchestrator_s"],
        row["aggregator_s"],
    )
    row["efficiency"] = row["ideal_s"] / row["total_s"] if row["total_s"] else math.nan
    return row


def ideal_seconds(
    items: float, work_seconds: float, concurrency: float, orchestrator_s: float, aggregator_s: float
) -> float:
    """Return the ideal run time: the items' work spread over the account's concurrency, plus both ends.

    The map part is items x work_seconds / concurrency, but never less than
    one item's work_seconds. A variant that processes several items per
    invocation in threads can beat this figure, so its efficiency
    (ideal / measured) can exceed 1. Returns NaN when an input is unknown.
    """
    if any(math.isnan(value) for value in (items, work_seconds, concurrency)) or concurrency <= 0:
        return math.nan
    map_s = max(work_seconds, items * work_seconds / concurrency)
    return map_s + np.nan_to_num(orchestrator_s) + np.nan_to_num(aggregator_s)


def add_baseline_columns(table: pd.DataFrame, df: pd.DataFrame, baseline: str, alpha: float) -> pd.DataFrame:
    """Return `table` with relative, p_value and significant columns against the `baseline` variant."""
    ok = succeeded(df)
    if not (ok["variant"] == baseline).any():
        present = ", ".join(sorted(set(ok["variant"]))) or "none"
        raise InputError(
            f"--baseline {baseline!r}: no succeeded repetition of that variant in the results; "
            f"variants with succeeded repetitions: {present}"
        )

    relative, p_values, significant = [], [], []
    for variant, backend in zip(table["variant"], table["backend"]):
        base = group_rows(ok, baseline, backend)["total_s"].tolist()
        difference = compare_samples(base, group_rows(ok, variant, backend)["total_s"].tolist(), alpha)
        relative.append(difference.ratio)
        p_values.append(math.nan if variant == baseline else difference.p_value)
        significant.append(None if variant == baseline or math.isnan(difference.p_value) else difference.significant)

    return table.assign(relative=relative, p_value=p_values, significant=significant)


def statistics_table(df: pd.DataFrame, confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Return the median, p95, min, max and median confidence interval of every time metric.

    One row per (variant, backend, metric) over the succeeded repetitions;
    metric is one of total, orchestrator, map, aggregator (seconds).
    """
    ok = succeeded(df)
    rows = []
    for variant, backend in group_order(df):
        group = group_rows(ok, variant, backend)
        for metric in TIME_METRICS:
            values = group[metric].tolist() if metric in group else []
            summary = summarize(values, confidence)
            rows.append(
                {
                    "variant": variant,
                    "backend": backend,
                    "metric": metric.removesuffix("_s"),
                    "runs": summary.count,
                    "median": summary.median,
                    "p95": summary.p95,
                    "min": summary.min,
                    "max": summary.max,
                    "ci_low": summary.ci_low,
                    "ci_high": summary.ci_high,
                    "ci_level": summary.ci_level,
                }
            )
    return pd.DataFrame(rows)


def cost_table(df: pd.DataFrame) -> pd.DataFrame:
    """Return the median cost per run by line item, the median total and the cost per 1,000 items.

    One row per (variant, backend) over the succeeded repetitions. Line items
    that are zero in every row are left out.
    """
    ok = succeeded(df)
    item_columns = [column for column in df.columns if column.startswith(COST_PREFIX)]
    rows = []
    for variant, backend in group_order(df):
        group = group_rows(ok, variant, backend)
        row: dict[str, Any] = {"variant": variant, "backend": backend, "runs": len(group)}
        row.update({column: median_of(group[column]) for column in item_columns})
        row["cost_usd"] = median_of(group["cost_usd"])
        row["items"] = median_of(group["items"]) if "items" in group else math.nan
        row["usd_per_1000_items"] = row["cost_usd"] / row["items"] * 1000 if row["items"] else math.nan
        rows.append(row)

    table = pd.DataFrame(rows)
    unused = [column for column in item_columns if not table[column].fillna(0).astype(bool).any()]
    return table.drop(columns=unused)


def sim_vs_aws_table(df: pd.DataFrame) -> pd.DataFrame:
    """Return the simulator's prediction next to the AWS measurement for each variant and input.

    One row per (variant, input file, item count) that has succeeded
    repetitions on both backends. `total_error` and `map_error` are (sim - aws) / aws of the medians.
    """
    ok = succeeded(df)
    columns = ["variant", "items", "sim_total_s", "aws_total_s", "total_error", "sim_map_s", "aws_map_s", "map_error"]
    if ok.empty or "input_sha256" not in ok:
        return pd.DataFrame(columns=columns)

    rows = []
    # The input file's checksum is the same for every --items count, so the count is part of the key.
    for (variant, _, items), group in ok.groupby(["variant", "input_sha256", "items"], sort=False, dropna=False):
        sim = group[group["backend"] == "sim"]
        aws = group[group["backend"] == "aws"]
        if sim.empty or aws.empty:
            continue
        row = {"variant": variant, "items": items}
        for metric in ("total", "map"):
            row[f"sim_{metric}_s"] = median_of(sim[f"{metric}_s"])
            row[f"aws_{metric}_s"] = median_of(aws[f"{metric}_s"])
            measured = row[f"aws_{metric}_s"]
            row[f"{metric}_error"] = (row[f"sim_{metric}_s"] - measured) / measured if measured else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def result_notes(df: pd.DataFrame) -> list[str]:
    """Return one note per group with failed or partial repetitions, or pooling runs of different settings."""
    notes = []
    for variant, backend in group_order(df):
        group = group_rows(df, variant, backend)
        label = f"{variant} ({backend})"
        failed = group[group["status"] != "succeeded"]
        if len(failed):
            errors = [str(error) for error in failed.get("error", pd.Series(dtype=object)).dropna() if error]
            detail = f"; first error: {errors[0]}" if errors else ""
            notes.append(f"{label}: {len(failed)} of {len(group)} repetitions failed and are left out{detail}")
        if "partial" in group and group["partial"].fillna(False).astype(bool).any():
            count = int(group["partial"].fillna(False).astype(bool).sum())
            notes.append(f"{label}: {count} repetitions are partial (invocation records missing)")
        if (note := pooled_settings_note(group, label)) is not None:
            notes.append(note)
    return notes


def pooled_settings_notes(df: pd.DataFrame) -> list[str]:
    """Return one note per (variant, backend) of `df` that pools runs of different settings."""
    notes = []
    for variant, backend in group_order(df):
        if (note := pooled_settings_note(group_rows(df, variant, backend), f"{variant} ({backend})")) is not None:
            notes.append(note)
    return notes


def pooled_settings_note(group: pd.DataFrame, label: str) -> str | None:
    """Return a note naming the settings that differ between the runs pooled in `group`, or None when they agree.

    Rows from bench.results.load_results carry no settings, so only a
    difference of input is found there.
    """
    if "settings_sha256" not in group:
        if "input_sha256" in group and group["input_sha256"].nunique() > 1:
            counts = ", ".join(str(int(items)) for items in sorted(group["items"].dropna().unique()))
            return (
                f"{label}: pools {group['input_sha256'].nunique()} different inputs ({counts} items); "
                "pass result files of one input to compare like with like"
            )
        return None

    configurations = settings_groups(group)
    if len(configurations) < 2:
        return None
    differences = describe_differences([[settings] for settings, _ in configurations])
    files = " vs ".join(_file_list(files) for _, files in configurations)
    return f"{label}: pools runs with different settings: {differences} (files {files}); compare them separately"


def settings_groups(group: pd.DataFrame) -> list[tuple[dict[str, Any], list[str]]]:
    """Return each distinct settings of `group` with the names of the result files that have it, in file order."""
    found: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for fingerprint, settings, file in zip(group["settings_sha256"], group["settings"], group["file"]):
        _, files = found.setdefault(fingerprint, (settings, []))
        name = Path(file).name
        if name not in files:
            files.append(name)
    return list(found.values())


def describe_differences(sides: list[list[dict[str, Any]]], labels: list[str] | None = None) -> str:
    """Return the keys whose values differ between the sides, with each side's value: "workload.jitter 0.05 vs 0".

    Each side is a list of settings; a side whose settings disagree on a key
    shows its values joined by "/". With `labels`, each value is followed by
    its side's label in brackets. At most MAX_SHOWN_DIFFERENCES keys are
    shown, then how many more differ.
    """
    keys = sorted({key for side in sides for settings in side for key in settings}, key=_settings_key_order)
    displayed = {key: [_side_value(side, key) for side in sides] for key in keys}
    differing = [key for key in keys if len(set(displayed[key])) > 1]

    parts = []
    for key in differing[:MAX_SHOWN_DIFFERENCES]:
        values = displayed[key]
        if labels is not None:
            values = [f"{value} ({label})" for value, label in zip(values, labels)]
        parts.append(f"{key} {' vs '.join(values)}")
    if len(differing) > MAX_SHOWN_DIFFERENCES:
        parts.append(f"and {len(differing) - MAX_SHOWN_DIFFERENCES} more")
    return ", ".join(parts) or "the same values in other combinations"


def _side_value(side: list[dict[str, Any]], key: str) -> str:
    return "/".join(dict.fromkeys(_shown_value(settings, key) for settings in side))


def _settings_key_order(key: str) -> tuple[int, str]:
    """Sort the variant's keys first, then the input, then the run's parameters, then backend and region."""
    if key.startswith("variant."):
        return 0, key
    if key.startswith("input."):
        return 1, key
    return (3 if key in ("backend", "region") else 2), key


def _shown_value(settings: dict[str, Any], key: str) -> str:
    if key not in settings:
        return UNSET
    value = settings[key]
    if isinstance(value, str):
        # The first 12 hex digits identify a SHA-256 in practice, as in git's short commit ids.
        return value[:12] if key.endswith("sha256") else value
    if value is None:
        return "none"
    return json.dumps(value)


def _file_list(names: list[str]) -> str:
    listed = ", ".join(names[:MAX_SHOWN_FILES])
    if len(names) > MAX_SHOWN_FILES:
        listed += f" and {len(names) - MAX_SHOWN_FILES} more"
    return listed
