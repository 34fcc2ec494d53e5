"""The offline backend: a SimPy model of Step Functions, Lambda, SQS and S3 on a virtual clock."""

import random
from typing import Any

from bench.results import Repetition
from bench.sim.engine import ExecutionFailed, Region, check_concurrency_configuration
from bench.sim.lambdas import Throttled
from bench.sim.pipeline import Pipeline, digest_of, sample_service_times
from bench.sim.rules import AwsRules
from bench.workload import Workload
from variants import Variant

__all__ = ["AwsRules", "simulate"]


def simulate(
    variant: Variant,
    items: list[dict[str, Any]],
    workload: Workload,
    rules: AwsRules,
    seed: int,
    index: int = 0,
) -> Repetition:
    """Simulate one repetition of `variant` over `items` and return its measurements.

    The run is deterministic for a given seed and index. Item service times
    depend only on (seed, index), so every variant gets the same work. A run
    that hits an AWS limit which would fail the real execution returns a
    repetition with status "failed" and the AWS error in `error`.
    """
    from bench.cost import estimate_cost

    region = Region(variant, rules, random.Random(seed))
    pipeline = Pipeline(region, items, sample_service_times(workload, seed, index, len(items)))

    status, error = "succeeded", None
    try:
        check_concurrency_configuration(variant, rules)
        region.env.run(until=region.env.process(pipeline.run()))
    except (ExecutionFailed, Throttled) as failure:
        status, error = "failed", str(failure)

    counters = dict(region.counters)
    counters["provisioned_environments"] = variant.provisioned
    counters["provisioned_seconds"] = round(region.env.now, 3) if variant.provisioned else 0
    cost = estimate_cost(variant.to_dict(), region.invocations, counters, rules.region)

    return Repetition(
        index=index,
        status=status,
        error=error,
        stages=pipeline.stages,
        invocations=region.invocations,
        counters=counters,
        cost_usd=cost,
        aggregate_sha256=digest_of(pipeline.summary) if status == "succeeded" else None,
        limits={name: round(value, 6) for name, value in sorted(region.limits.items())},
    )
