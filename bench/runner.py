"""Run variants on the simulator and assemble the result document."""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.books import ReadingList
from bench.errors import InputError
from bench.results import build_document, new_run_id
from bench.sim.rules import AwsRules
from bench.workload import Workload
from variants import ESM_MAX_CONCURRENCY_RANGE, VARIANTS, Variant

# Largest ESM batch without a batching window. Source: AWS Lambda developer guide,
# using Lambda with Amazon SQS (batch size above 10 needs MaximumBatchingWindowInSeconds >= 1).
ESM_BATCH_SIZE_WITHOUT_WINDOW = 10
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Knobs:
    """Variant knobs given on the command line; None keeps the variant's default."""

    max_concurrency: int | None = None
    batch_size: int | None = None
    batch_threads: int | None = None
    provisioned: int | None = None
    reserved_concurrency: int | None = None
    esm_batch_size: int | None = None
    esm_max_concurrency: int | None = None
    distributed_max_concurrency: int | None = None
    distributed_batch_size: int | None = None


@dataclass(frozen=True)
class RunRequest:
    """Everything `bench run` needs to produce one result document."""

    variant_names: list[str]
    reading_list: ReadingList
    workload: Workload
    rules: AwsRules
    repetitions: int = 5
    seed: int = 0
    knobs: Knobs = field(default_factory=Knobs)


# Each knob: the Variant field it sets and the variants it applies to (None = every variant).
# A knob given for none of the selected variants is reported by unused_knobs.
KNOB_FIELDS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "max_concurrency": ("max_concurrency", ("per-book", "batched", "provisioned")),
    "batch_size": ("batch_size", ("batched",)),
    "batch_threads": ("batch_threads", None),
    "provisioned": ("provisioned", ("provisioned",)),
    "reserved_concurrency": ("reserved_concurrency", None),
    "esm_batch_size": ("esm_batch_size", ("sqs",)),
    "esm_max_concurrency": ("esm_max_concurrency", ("sqs",)),
    "distributed_max_concurrency": ("max_concurrency", ("distributed",)),
    "distributed_batch_size": ("batch_size", ("distributed",)),
}


def unused_knobs(names: list[str], knobs: Knobs) -> list[str]:
    """Return a warning for each knob that none of the variants `names` uses."""
    warnings = []
    for knob, (_, targets) in KNOB_FIELDS.items():
        if targets is not None and getattr(knobs, knob) is not None and not set(targets) & set(names):
            option = "--" + knob.replace("_", "-")
            warnings.append(f"{option} applies only to {', '.join(targets)}; it has no effect on {', '.join(names)}")
    return warnings


def configure_variants(names: list[str], knobs: Knobs, rules: AwsRules) -> list[Variant]:
    """Return the named variants with the knobs applied, after checking each knob's range."""
    _check_knobs(knobs, rules)
    configured = []
    for name in names:
        if name not in VARIANTS:
            raise InputError(f"--variant {name!r} is not a variant; expected one of: {', '.join(VARIANTS)}")
        configured.append(_apply_knobs(VARIANTS[name], knobs))
    return configured


def _apply_knobs(variant: Variant, knobs: Knobs) -> Variant:
    changes = {
        field_name: getattr(knobs, knob)
        for knob, (field_name, targets) in KNOB_FIELDS.items()
        if targets is None or variant.name in targets
    }
    return variant.with_knobs(**changes)


def _check_knobs(knobs: Knobs, rules: AwsRules) -> None:
    _check_range("--max-concurrency", knobs.max_concurrency, 0, None)
    _check_range("--batch-size", knobs.batch_size, 1, None)
    _check_range("--batch-threads", knobs.batch_threads, 1, None)
    _check_range("--distributed-max-concurrency", knobs.distributed_max_concurrency, 0, rules.distributed_max_children)
    _check_range("--distributed-batch-size", knobs.distributed_batch_size, 1, None)
    _check_range("--esm-batch-size", knobs.esm_batch_size, 1, ESM_BATCH_SIZE_WITHOUT_WINDOW)
    _check_range("--esm-max-concurrency", knobs.esm_max_concurrency, *ESM_MAX_CONCURRENCY_RANGE)
    _check_range("--provisioned", knobs.provisioned, 0, None)
    _check_range("--reserved-concurrency", knobs.reserved_concurrency, 0, None)


def _check_range(option: str, value: int | None, low: int, high: int | None) -> None:
    if value is None:
        return
    if value < low or (high is not None and value > high):
        bounds = f"{low} to {high}" if high is not None else f"{low} or more"
        raise InputError(f"{option} is {value}; expected {bounds}")


def run_simulation(request: RunRequest, progress: Progress | None = None) -> dict[str, Any]:
    """Simulate every requested variant `request.repetitions` times; return the result document."""
    from bench.sim import simulate

    variants = configure_variants(request.variant_names, request.knobs, request.rules)
    items = request.reading_list.items
    total = len(variants) * request.repetitions
    done = 0

    variant_runs = []
    for variant in variants:
        repetitions = []
        for index in range(request.repetitions):
            repetition = simulate(variant, items, request.workload, request.rules, request.seed, index)
            repetitions.append(repetition.to_dict())
            done += 1
            if progress:
                progress(variant.name, done, total)
        variant_runs.append({"variant": variant.to_dict(), "repetitions": repetitions})

    return build_document(
        run_id=new_run_id(),
        backend="sim",
        region=request.rules.region,
        parameters=run_parameters(request),
        input_info=input_info(request.reading_list),
        variant_runs=variant_runs,
    )


def run_parameters(request: RunRequest) -> dict[str, Any]:
    """Return every parameter that shaped the run, as recorded in the result file."""
    return {
        "repetitions": request.repetitions,
        "seed": request.seed,
        "workload": asdict(request.workload),
        "rules": request.rules.to_dict(),
        "knobs": {name: value for name, value in asdict(request.knobs).items() if value is not None},
    }


def input_info(reading_list: ReadingList) -> dict[str, Any]:
    """Return the input facts recorded in the result file."""
    return {
        "source": reading_list.source,
        "items": len(reading_list.items),
        "sha256": reading_list.sha256,
        "size_bytes": reading_list.size_bytes,
    }
