"""The short per-variant summary `bench run` prints after a run."""

import statistics
from typing import Any

from bench.results import peak_concurrency

# Plain-words names of the limits a simulated repetition records in `limits`.
LIMIT_LABELS = {
    "inline_map_cap": "inline Map concurrency cap",
    "max_concurrency": "the Map's MaxConcurrency",
    "account_concurrency": "account concurrency limit",
    "reserved_concurrency": "reserved concurrency of the worker",
    "scaling_rate": "Lambda scaling rate (1,000 environments per 10 s)",
    "esm_ramp": "SQS event source mapping ramp (+300 per minute)",
    "esm_max_concurrency": "event source mapping maximum concurrency",
    "distributed_dispatch_rate": "distributed Map child start rate",
    "state_transition_rate": "state-transition token bucket",
}


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
        lines.append(f"{name}  {_median_line(succeeded)}{_failure_note(failed)}")
    return lines


def _median_line(repetitions: list[dict[str, Any]]) -> str:
    total = statistics.median(rep["total_s"] for rep in repetitions)
    map_s = statistics.median(_stage_seconds(rep, "map") for rep in repetitions)
    peak = statistics.median(_worker_peak(rep) for rep in repetitions)
    cold = statistics.median(sum(rep["invocations"]["cold"]) for rep in repetitions)
    cost = statistics.median(rep["cost_usd"].get("total", 0.0) for rep in repetitions)
    line = f"total {total:7.2f} s  map {map_s:7.2f} s  peak {peak:5.0f}  cold starts {cold:5.0f}  ${cost:.4f}"
    top = top_limit(repetitions[0].get("limits", {}))
    line += f"  bound by: {LIMIT_LABELS.get(top, top)}" if top else "  bound by: no limit held items back"
    return line


def _failure_note(failed: list[dict[str, Any]]) -> str:
    return f"  ({len(failed)} repetitions failed: {failed[0]['error']})" if failed else ""


def _stage_seconds(repetition: dict[str, Any], stage: str) -> float:
    window = repetition["stages"].get(stage)
    return window["end"] - window["start"] if window else 0.0


def _worker_peak(repetition: dict[str, Any]) -> int:
    columns = repetition["invocations"]
    workers = [i for i, name in enumerate(columns["function"]) if name == "worker"]
    return peak_concurrency([columns["start"][i] for i in workers], [columns["end"][i] for i in workers])


def top_limit(limits: dict[str, float]) -> str | None:
    """Return the limit that held items back longest, or None when nothing was held back."""
    held = {name: seconds for name, seconds in limits.items() if seconds > 0}
    return max(held, key=held.__getitem__) if held else None
