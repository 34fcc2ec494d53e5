"""The short per-variant summary `bench run` prints after a run."""

import statistics
from collections import Counter
from typing import Any

from bench.attribution import describe_limit, repetition_limits, top_limit
from bench.results import peak_concurrency


def summary_lines(document: dict[str, Any]) -> list[str]:
    """Return one line per variant: medians over succeeded repetitions and the top binding limit."""
    lines = []
    width = max(len(run["variant"]["name"]) for run in document["variants"])
    for variant_run in document["variants"]:
        name = variant_run["variant"]["name"].ljust(width)
        succeeded = [rep for rep in variant_run["repetitions"] if rep["status"] == "succeeded"]
        failed = [rep for rep in variant_run["repetitions"] if rep["status"] != "succeeded"]
        if not succeeded:
            lines.append(f"{name}  failed: {failed[0]['error']}")
            continue
        line = f"{name}  {_median_line(succeeded)}  bound by: {_binding_limit(document, variant_run, succeeded)}"
        lines.append(line + _failure_note(failed))
    return lines


def _median_line(repetitions: list[dict[str, Any]]) -> str:
    total = statistics.median(rep["total_s"] for rep in repetitions)
    map_s = statistics.median(_stage_seconds(rep, "map") for rep in repetitions)
    peak = statistics.median(_worker_peak(rep) for rep in repetitions)
    cold = statistics.median(sum(rep["invocations"]["cold"]) for rep in repetitions)
    cost = statistics.median(rep["cost_usd"].get("total", 0.0) for rep in repetitions)
    return f"total {total:7.2f} s  map {map_s:7.2f} s  peak {peak:5.0f}  cold starts {cold:5.0f}  ${cost:.4f}"


def _binding_limit(document: dict[str, Any], variant_run: dict[str, Any], repetitions: list[dict[str, Any]]) -> str:
    """Return, in plain words, the limit that held items back longest over all `repetitions`."""
    variant = variant_run["variant"]
    held: Counter[str] = Counter()
    for repetition in repetitions:
        limits, _ = repetition_limits(document, variant, repetition)
        held.update(limits)
    top = top_limit(dict(held))
    if top is None:
        return "no limit held items back (the time is the workers' own work)"
    return describe_limit(top[0], variant, document.get("parameters") or {})


def _failure_note(failed: list[dict[str, Any]]) -> str:
    return f"  ({len(failed)} repetitions failed: {failed[0]['error']})" if failed else ""


def _stage_seconds(repetition: dict[str, Any], stage: str) -> float:
    window = repetition["stages"].get(stage)
    return window["end"] - window["start"] if window else 0.0


def _worker_peak(repetition: dict[str, Any]) -> int:
    columns = repetition["invocations"]
    workers = [i for i, name in enumerate(columns["function"]) if name == "worker"]
    return peak_concurrency([columns["start"][i] for i in workers], [columns["end"][i] for i in workers])
