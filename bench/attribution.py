"""Binding-limit attribution: which AWS limit held a fan-out's items back, and for how long.

A limit's attribution is in item-seconds: the seconds each item waited during
the map phase because of that limit, summed over items. The simulator records
it as it runs. For a measured (aws) run it is inferred here from the trace of
worker invocations: while items wait, the limit whose cap the running
concurrency has reached is the one holding them back.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.aws.reports import concurrency_steps

LIMIT_NAMES = (
    "inline_map_cap",
    "max_concurrency",
    "account_concurrency",
    "reserved_concurrency",
    "scaling_rate",
    "esm_ramp",
    "esm_max_concurrency",
    "distributed_dispatch_rate",
    "state_transition_rate",
)

# Defaults used when a result file records no rules. Sources: AWS Step Functions
# developer guide ("Inline Map state", service quotas) and AWS Lambda developer
# guide ("Lambda scaling behavior", scaling for SQS event source mappings).
DEFAULT_RULES: dict[str, Any] = {
    "account_concurrency": 1000,
    "inline_map_max_concurrency": 40,
    "distributed_max_children": 10000,
    "express_child_start_rate": 1000.0,
    "scaling_burst": 1000,
    "scaling_refill_per_s": 100.0,
    "esm_initial_concurrency": 5,
    "esm_scale_per_minute": 300,
    "esm_max_concurrency": 1000,
    "transition_bucket": 5000,
    "transition_refill_per_s": 5000.0,
}

# The remedy for each binding limit: variant names from variants.VARIANTS, with the reason.
REMEDIES: dict[str, str] = {
    "inline_map_cap": "distributed (a distributed Map runs up to 10,000 child executions at once) "
    "or batched (10-20 items per invocation, so 40 iterations carry more items)",
    "max_concurrency": "raise the Map's MaxConcurrency (an inline Map still stops at 40), or distributed",
    "account_concurrency": "batched (fewer concurrent invocations for the same items), and request a higher "
    "'Concurrent executions' quota for Lambda in Service Quotas",
    "reserved_concurrency": "raise or remove the worker's reserved concurrency (PutFunctionConcurrency / "
    "DeleteFunctionConcurrency), or batched",
    "scaling_rate": "provisioned (pre-initialized environments are not limited by the scaling rate)",
    "esm_ramp": "distributed (children start at up to 1,000 per second instead of the queue's ramp), "
    "or a larger ESM batch size so each invocation takes more messages",
    "esm_max_concurrency": "raise ScalingConfig.MaximumConcurrency on the event source mapping (2-1,000)",
    "distributed_dispatch_rate": "distributed with an ItemBatcher batch size, so fewer children start",
    "state_transition_rate": "distributed with Express children, whose transitions do not draw from the "
    "Standard workflow's bucket, or batched",
}


@dataclass(frozen=True)
class ConcurrencyCap:
    """A concurrency limit: at most `value` invocations run at once while it applies."""

    name: str
    value: int


def rules_from(parameters: dict[str, Any]) -> dict[str, Any]:
    """Return the AWS rules a result file recorded, filled in with the documented defaults."""
    recorded = parameters.get("rules") if isinstance(parameters.get("rules"), dict) else {}
    return {**DEFAULT_RULES, **{name: value for name, value in recorded.items() if value is not None}}


def variant_caps(variant: dict[str, Any], parameters: dict[str, Any]) -> list[ConcurrencyCap]:
    """Return the concurrency caps that apply to the variant's workers, smallest first."""
    rules = rules_from(parameters)
    caps = [ConcurrencyCap("account_concurrency", int(rules["account_concurrency"]))]
    if variant.get("reserved_concurrency"):
        caps.append(ConcurrencyCap("reserved_concurrency", int(variant["reserved_concurrency"])))

    fan_out = variant.get("fan_out")
    max_concurrency = int(variant.get("max_concurrency") or 0)
    if fan_out == "inline-map":
        caps.append(_inline_cap(max_concurrency, int(rules["inline_map_max_concurrency"])))
    elif fan_out == "distributed-map":
        limit = int(rules["distributed_max_children"])
        caps.append(ConcurrencyCap("max_concurrency", min(max_concurrency, limit) if max_concurrency else limit))
    elif fan_out == "sqs":
        limit = int(rules["esm_max_concurrency"])
        if variant.get("esm_max_concurrency"):
            limit = min(limit, int(variant["esm_max_concurrency"]))
        caps.append(ConcurrencyCap("esm_max_concurrency", limit))
    return sort_caps(caps)


def _inline_cap(max_concurrency: int, inline_limit: int) -> ConcurrencyCap:
    if 0 < max_concurrency < inline_limit:
        return ConcurrencyCap("max_concurrency", max_concurrency)
    return ConcurrencyCap("inline_map_cap", inline_limit)


def sort_caps(caps: Iterable[ConcurrencyCap]) -> list[ConcurrencyCap]:
    """Sort caps smallest first; among equal caps the one named earlier in LIMIT_NAMES wins."""
    return sorted(caps, key=lambda cap: (cap.value, LIMIT_NAMES.index(cap.name)))


def rate_limit_for(fan_out: str | None) -> str:
    """Return the rate limit charged for waiting while no concurrency cap is reached.

    NOTE: a trace shows concurrency, not the token buckets behind it, so the
    rate limit is inferred by elimination from the fan-out mechanism.
    """
    if fan_out == "sqs":
        return "esm_ramp"
    if fan_out == "distributed-map":
        return "distributed_dispatch_rate"
    return "scaling_rate"


def held_item_seconds(
    invocations: list[dict[str, Any]],
    caps: list[ConcurrencyCap],
    fallback: str | None,
    available_at: float | None = None,
    resolution_s: float = 1.0,
) -> dict[str, float]:
    """Attribute the item-seconds that items waited to the limit binding at the time.

    Each invocation needs "start", "end" and "items" (1 when absent). Every
    item is taken to be available at `available_at` (default: the first
    start) and waits until its invocation starts. In each `resolution_s`
    interval, the waiting is charged to the smallest cap that the peak
    concurrency of that interval reached. When none was reached, the cap of
    the last interval that reached one is charged, because a throttled
    fan-out dips below its cap between retries. Before any cap is reached the
    waiting goes to `fallback`, or is left out when it is None. Waiting
    charged to `fallback` that averages under `resolution_s` per item is
    dispatch latency, not a limit, and is left out too.
    """
    if not invocations:
        return {}
    origin = min(record["start"] for record in invocations)
    if available_at is not None:
        origin = min(origin, available_at)
    end = max(record["end"] for record in invocations)
    buckets = max(1, math.ceil((end - origin) / resolution_s))

    peaks = _bucket_peaks(invocations, origin, buckets, resolution_s)
    waiting = _bucket_waiting(invocations, origin, buckets, resolution_s)

    limits: dict[str, float] = {}
    binding = fallback
    for peak, waited in zip(peaks, waiting):
        reached = next((cap.name for cap in caps if peak >= cap.value), None)
        binding = reached or binding
        if waited > 0 and binding is not None:
            limits[binding] = limits.get(binding, 0.0) + waited

    item_count = sum(_items(record) for record in invocations)
    if fallback in limits and limits[fallback] < resolution_s * item_count:
        del limits[fallback]
    return {name: round(value, 6) for name, value in limits.items()}


def _bucket_peaks(records: list[dict[str, Any]], origin: float, buckets: int, resolution_s: float) -> list[int]:
    peaks = [0] * buckets
    steps = concurrency_steps(records)
    for (moment, running), (next_moment, _) in zip(steps, steps[1:]):
        first = min(buckets - 1, int((moment - origin) // resolution_s))
        last = min(buckets, math.ceil((next_moment - origin) / resolution_s))
        for bucket in range(first, max(last, first + 1)):
            peaks[bucket] = max(peaks[bucket], running)
    return peaks


def _bucket_waiting(records: list[dict[str, Any]], origin: float, buckets: int, resolution_s: float) -> list[float]:
    """Return the item-seconds spent waiting in each interval: items not yet started, integrated over time."""
    waiting = [0.0] * buckets
    remaining = sum(_items(record) for record in records)
    previous = origin

    for record in sorted(records, key=lambda record: record["start"]):
        _spread(waiting, previous, record["start"], remaining, origin, resolution_s)
        previous = max(previous, record["start"])
        remaining -= _items(record)
    return waiting


def _spread(
    waiting: list[float], start: float, end: float, items: int, origin: float, resolution_s: float
) -> None:
    if end <= start or items <= 0:
        return
    first = int((start - origin) // resolution_s)
    last = min(len(waiting) - 1, int((end - origin) // resolution_s))
    for bucket in range(first, last + 1):
        bucket_start = origin + bucket * resolution_s
        overlap = min(end, bucket_start + resolution_s) - max(start, bucket_start)
        if overlap > 0:
            waiting[bucket] += overlap * items


def _items(record: dict[str, Any]) -> int:
    items = record.get("items")
    return 1 if items is None else int(items)


def worker_records(invocations: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Return the worker invocations of column-wise invocation records as one dict each."""
    names = list(invocations)
    rows = [dict(zip(names, values)) for values in zip(*(invocations[name] for name in names))]
    return [row for row in rows if row.get("function") == "worker"]


def infer_limits(
    variant: dict[str, Any], invocations: dict[str, list[Any]], parameters: dict[str, Any]
) -> dict[str, float]:
    """Infer the item-seconds each limit held items back from a measured run's worker trace.

    `invocations` is a repetition's column-wise invocation records, as result
    files store them. Items count as available from the first worker start,
    so a Map Run's setup before its first child is not charged to any limit.
    """
    workers = worker_records(invocations)
    caps = variant_caps(variant, parameters)
    return held_item_seconds(workers, caps, rate_limit_for(variant.get("fan_out")))


def top_limit(limits: dict[str, float]) -> tuple[str, float] | None:
    """Return the limit that held items back longest, or None when none did."""
    positive = [(name, value) for name, value in limits.items() if value > 0]
    if not positive:
        return None
    return max(positive, key=lambda pair: (pair[1], -_limit_rank(pair[0])))


def _limit_rank(name: str) -> int:
    return LIMIT_NAMES.index(name) if name in LIMIT_NAMES else len(LIMIT_NAMES)


def limit_shares(limits: dict[str, float]) -> dict[str, float]:
    """Return each limit's share of the total item-seconds held back, from 0 to 1."""
    total = sum(value for value in limits.values() if value > 0)
    if total == 0:
        return {}
    return {name: value / total for name, value in limits.items() if value > 0}


def describe_limit(name: str, variant: dict[str, Any], parameters: dict[str, Any]) -> str:
    """Return the limit in plain words with its value, e.g. "inline Map concurrency cap (40)"."""
    rules = rules_from(parameters)
    caps = {cap.name: cap.value for cap in variant_caps(variant, parameters)}
    descriptions = {
        "inline_map_cap": f"inline Map concurrency cap ({rules['inline_map_max_concurrency']})",
        "max_concurrency": f"Map MaxConcurrency ({caps.get('max_concurrency', variant.get('max_concurrency'))})",
        "account_concurrency": f"account concurrency limit ({rules['account_concurrency']:,})",
        "reserved_concurrency": f"worker reserved concurrency ({variant.get('reserved_concurrency')})",
        "scaling_rate": f"Lambda scaling rate ({_rate(rules['scaling_refill_per_s'] * 10)} new environments "
        "per 10 s per function)",
        "esm_ramp": f"SQS event source mapping ramp ({rules['esm_initial_concurrency']} at first, "
        f"+{rules['esm_scale_per_minute']} per minute)",
        "esm_max_concurrency": f"event source mapping maximum concurrency ({caps.get('esm_max_concurrency')})",
        "distributed_dispatch_rate": f"distributed Map child start rate ({_rate(rules['express_child_start_rate'])}"
        " per second)",
        "state_transition_rate": f"Standard workflow state-transition bucket ({_rate(rules['transition_bucket'])} "
        f"burst, {_rate(rules['transition_refill_per_s'])} per second)",
    }
    return descriptions.get(name, name.replace("_", " "))


def _rate(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


@dataclass
class VariantAttribution:
    """The limits that held one variant's items back, averaged over its repetitions."""

    variant: dict[str, Any]
    repetitions: int
    limits: dict[str, float]  # limit -> mean item-seconds per repetition
    inferred: bool  # True when inferred from the trace rather than recorded by the simulator
    top: tuple[str, float] | None = None
    top_description: str | None = None
    shares: dict[str, float] = field(default_factory=dict)
    failed: int = 0  # repetitions left out because they failed
    error: str | None = None  # the first failed repetition's error

    def to_dict(self) -> dict[str, Any]:
        """Return the attribution as JSON-ready data."""
        return {
            "variant": self.variant["name"],
            "repetitions": self.repetitions,
            "inferred": self.inferred,
            "limits": dict(self.limits),
            "shares": dict(self.shares),
            "top": None if self.top is None else {"limit": self.top[0], "item_seconds": self.top[1]},
            "top_description": self.top_description,
            "failed": self.failed,
            "error": self.error,
        }


def repetition_limits(
    document: dict[str, Any], variant: dict[str, Any], repetition: dict[str, Any]
) -> tuple[dict[str, float], bool]:
    """Return a repetition's limits and whether they were inferred from its trace.

    Recorded limits are used as they are. A measured (aws) repetition without
    them is inferred from its worker invocations.
    """
    recorded = repetition.get("limits")
    if recorded or document.get("backend") != "aws":
        return dict(recorded or {}), False
    return infer_limits(variant, repetition["invocations"], document.get("parameters") or {}), True


def explain_document(document: dict[str, Any]) -> list[VariantAttribution]:
    """Return one attribution per variant of a result document."""
    parameters = document.get("parameters") or {}
    explanations = []
    for variant_run in document["variants"]:
        variant = variant_run["variant"]
        repetitions = [rep for rep in variant_run["repetitions"] if rep.get("status") == "succeeded"]
        failed = [rep for rep in variant_run["repetitions"] if rep.get("status") != "succeeded"]
        totals: dict[str, float] = {}
        inferred = False
        for repetition in repetitions:
            limits, was_inferred = repetition_limits(document, variant, repetition)
            inferred = inferred or was_inferred
            for name, value in limits.items():
                totals[name] = totals.get(name, 0.0) + value

        count = max(1, len(repetitions))
        means = {name: round(value / count, 6) for name, value in totals.items()}
        top = top_limit(means)
        explanations.append(
            VariantAttribution(
                variant=variant,
                repetitions=len(repetitions),
                limits=means,
                inferred=inferred,
                top=top,
                top_description=describe_limit(top[0], variant, parameters) if top else None,
                shares=limit_shares(means),
                failed=len(failed),
                error=failed[0].get("error") if failed else None,
            )
        )
    return explanations


def format_explanation(path: Path, document: dict[str, Any], explanations: list[VariantAttribution]) -> str:
    """Return the text `bench explain` prints for one result file."""
    items = (document.get("input") or {}).get("items")
    lines = [f"{path} ({document.get('backend')}, {document.get('region')}, {items} items)"]
    for explanation in explanations:
        lines.append("")
        lines.extend(_format_variant(explanation))
    return "\n".join(lines)


def _format_variant(explanation: VariantAttribution) -> list[str]:
    name = explanation.variant["name"]
    if explanation.repetitions == 0:
        return [f"{name}: every repetition failed ({explanation.failed}): {explanation.error}"]
    source = "inferred from the trace" if explanation.inferred else "recorded by the simulator"
    plural = "" if explanation.repetitions == 1 else "s"
    held = sum(value for value in explanation.limits.values() if value > 0)
    header = (
        f"{name}: items held back {held:,.1f} item-s per repetition "
        f"(mean of {explanation.repetitions} succeeded repetition{plural}, {source})"
    )
    if explanation.failed:
        header += f"; {explanation.failed} failed repetitions left out: {explanation.error}"
    if explanation.top is None:
        return [header, "  no limit held items back during the map phase"]

    width = max(len(limit) for limit in explanation.shares)
    lines = [header, f"  {'limit':<{width}}  {'item-s':>12}  {'share':>7}"]
    for limit, share in sorted(explanation.shares.items(), key=lambda pair: (-pair[1], pair[0])):
        lines.append(f"  {limit:<{width}}  {explanation.limits[limit]:>12,.1f}  {share:>7.1%}")
    top_share = explanation.shares[explanation.top[0]]
    lines.append(f"  bound by the {explanation.top_description}: {top_share:.0%} of the time items waited")
    return lines

