"""Hand-made result files for the compare, plot and report tests: inline Map runs built wave by wave."""

from pathlib import Path
from typing import Any

from bench.cost import estimate_cost
from bench.results import Repetition, build_document, new_run_id, write_result
from variants import get_variant


def inline_map_repetition(
    index: int,
    items: int,
    work_s: float,
    cap: int,
    *,
    orchestrator_s: float = 0.2,
    aggregator_s: float = 0.3,
    init_s: float = 0.1,
    wave_gap_s: float = 0.0,
    variant: str = "per-book",
    status: str = "succeeded",
) -> Repetition:
    """Return a repetition whose map runs `items` one-item workers in waves of `cap`.

    The first wave is cold, so each of its workers pays `init_s` before its
    work. Later waves reuse the same environments. Wave k starts `wave_gap_s` after wave
    k-1 ends.
    """
    records: list[dict[str, Any]] = [_record("orchestrator", 0.0, orchestrator_s, 0.0, "env-orchestrator")]
    map_start = orchestrator_s
    wave_start = map_start
    for first in range(0, items, cap):
        wave_items = min(cap, items - first)
        cold = first == 0
        wave_end = wave_start + work_s + (init_s if cold else 0.0)
        for slot in range(wave_items):
            records.append(_record("worker", wave_start, wave_end, init_s if cold else 0.0, f"env-worker-{slot}"))
        wave_start = wave_end + wave_gap_s
    map_end = max(record["end"] for record in records)
    records.append(_record("aggregator", map_end, map_end + aggregator_s, 0.0, "env-aggregator"))

    counters = {"lambda_requests": len(records), "state_transitions": 3 * items + 6}
    variant_data = get_variant(variant).to_dict()
    return Repetition(
        index=index,
        status=status,
        stages={
            "orchestrator": (0.0, orchestrator_s),
            "map": (map_start, map_end),
            "aggregator": (map_end, map_end + aggregator_s),
        },
        invocations=records,
        counters=counters,
        cost_usd=estimate_cost(variant_data, records, counters, "us-east-1"),
        aggregate_sha256="0" * 64,
        error=None if status == "succeeded" else "States.Runtime: the Map state failed",
    )


def _record(function: str, start: float, end: float, init_s: float, environment: str) -> dict[str, Any]:
    return {
        "function": function,
        "start": start,
        "end": end,
        "init_s": init_s,
        "cold": init_s > 0,
        "billed_ms": round((end - start) * 1000),
        "items": 1 if function == "worker" else 0,
        "environment": environment,
        "provisioned": False,
    }


def write_run(
    output_dir: Path,
    runs: dict[str, list[Repetition]],
    *,
    backend: str = "sim",
    items: int = 100,
    work_seconds: float = 1.0,
    account_concurrency: int = 1000,
    input_sha256: str = "a" * 64,
) -> Path:
    """Write one result file containing `runs` (variant name -> repetitions) and return its path."""
    document = build_document(
        run_id=new_run_id(),
        backend=backend,
        region="us-east-1",
        parameters={
            "workload": {"work_seconds": work_seconds, "jitter": 0.0},
            "rules": {"account_concurrency": account_concurrency},
            "seed": 1,
        },
        input_info={"source": "bundled:reading_list.csv", "items": items, "sha256": input_sha256},
        variant_runs=[
            {"variant": get_variant(name).to_dict(), "repetitions": [repetition.to_dict() for repetition in repetitions]}
            for name, repetitions in runs.items()
        ],
    )
    return write_result(document, output_dir)


def per_book_runs(count: int, items: int = 100, work_s: float = 1.0, cap: int = 40, step_s: float = 0.01) -> list[Repetition]:
    """Return `count` per-book repetitions whose aggregator time grows by `step_s` per repetition."""
    return [
        inline_map_repetition(index, items, work_s, cap, aggregator_s=0.3 + index * step_s)
        for index in range(count)
    ]
