"""Each AWS rule of the simulator, checked in isolation with exact expectations."""

from dataclasses import fields

import pytest

from bench.results import peak_concurrency
from bench.sim import AwsRules, simulate
from bench.workload import Workload
from variants import VARIANTS, RetryPolicy, Variant


def zero_latency_rules(**overrides: object) -> AwsRules:
    """Return rules with every latency, init and setup time at 0, then `overrides`."""
    timing = {
        item.name: 0
        for item in fields(AwsRules)
        if item.name.endswith(("_latency_s", "_init_s", "_setup_s", "_teardown_s"))
        or item.name in ("parse_s_per_row", "merge_s_per_result")
    }
    return AwsRules().with_overrides({**timing, **overrides})


def make_items(count: int) -> list[dict[str, object]]:
    return [{"id": number, "title": f"book {number}"} for number in range(1, count + 1)]


def workers(repetition) -> list[dict[str, object]]:
    return [record for record in repetition.invocations if record["function"] == "worker"]


def worker_peak(repetition) -> int:
    records = workers(repetition)
    return peak_concurrency([r["start"] for r in records], [r["end"] for r in records])


def concurrency_at(records: list[dict[str, object]], moment: float) -> int:
    return sum(1 for r in records if r["start"] <= moment < r["end"])


def map_seconds(repetition) -> float:
    start, end = repetition.stages["map"]
    return end - start


def test_inline_map_runs_three_waves() -> None:
    variant = VARIANTS["per-book"].with_knobs(max_concurrency=0)

    repetition = simulate(variant, make_items(100), Workload(1.0), zero_latency_rules(), seed=0)

    starts = sorted({record["start"] for record in workers(repetition)})
    assert repetition.status == "succeeded"
    assert worker_peak(repetition) == 40
    assert starts == [0.0, 1.0, 2.0]
    assert map_seconds(repetition) == pytest.approx(3.0)


def test_inline_map_caps_max_concurrency_1000_at_40() -> None:
    repetition = simulate(VARIANTS["per-book"], make_items(100), Workload(1.0), zero_latency_rules(), seed=0)

    assert VARIANTS["per-book"].max_concurrency == 1000
    assert worker_peak(repetition) == 40


def test_inline_map_max_concurrency_1_is_sequential() -> None:
    variant = VARIANTS["per-book"].with_knobs(max_concurrency=1)

    repetition = simulate(variant, make_items(10), Workload(1.0), zero_latency_rules(), seed=0)

    assert worker_peak(repetition) == 1
    assert map_seconds(repetition) == pytest.approx(10.0)
    assert repetition.limits == {"max_concurrency": pytest.approx(45.0)}


def test_inline_map_cap_attribution_is_exact() -> None:
    # Items 41-80 each wait exactly one second for a free iteration slot.
    repetition = simulate(VARIANTS["per-book"], make_items(80), Workload(1.0), zero_latency_rules(), seed=0)

    assert repetition.limits == {"inline_map_cap": pytest.approx(40.0)}


def test_warm_environments_are_reused() -> None:
    repetition = simulate(VARIANTS["per-book"], make_items(80), Workload(1.0), zero_latency_rules(), seed=0)

    cold_workers = [record for record in workers(repetition) if record["cold"]]
    assert len(cold_workers) == 40
    assert len({record["environment"] for record in workers(repetition)}) == 40


def test_cold_start_adds_init_to_first_wave_only() -> None:
    rules = zero_latency_rules(worker_init_s=0.5)

    repetition = simulate(VARIANTS["per-book"], make_items(80), Workload(1.0), rules, seed=0)

    assert map_seconds(repetition) == pytest.approx(2.5)
    assert sum(record["init_s"] for record in workers(repetition)) == pytest.approx(20.0)


def test_on_demand_billing_includes_init() -> None:
    rules = zero_latency_rules(worker_init_s=0.25)

    repetition = simulate(VARIANTS["per-book"], make_items(1), Workload(1.0), rules, seed=0)

    assert workers(repetition)[0]["billed_ms"] == 1250


def test_esm_ramps_from_five() -> None:
    variant = VARIANTS["sqs"]
    rules = zero_latency_rules()

    repetition = simulate(variant, make_items(2000), Workload(60.0), rules, seed=0)

    records = workers(repetition)
    assert concurrency_at(records, 0.1) == 5
    assert concurrency_at(records, 1.0) == 10
    assert concurrency_at(records, 10.0) == 55
    assert concurrency_at(records, 59.9) == 304
    for moment in (0.5, 5.3, 20.7, 45.1):
        assert concurrency_at(records, moment) <= 5 + int(300 * moment / 60)
    assert repetition.limits["esm_ramp"] > 0


def test_esm_maximum_concurrency_caps_the_ramp() -> None:
    variant = VARIANTS["sqs"].with_knobs(esm_max_concurrency=20)

    repetition = simulate(variant, make_items(200), Workload(10.0), zero_latency_rules(), seed=0)

    assert worker_peak(repetition) == 20
    assert repetition.limits["esm_max_concurrency"] > 0


def test_account_concurrency_is_never_exceeded() -> None:
    rules = zero_latency_rules(account_concurrency=20)

    repetition = simulate(VARIANTS["sqs"], make_items(200), Workload(1.0), rules, seed=0)

    every = repetition.invocations
    assert repetition.status == "succeeded"
    assert peak_concurrency([r["start"] for r in every], [r["end"] for r in every]) == 20
    assert repetition.counters["lambda_throttles"] > 0
    assert repetition.limits["account_concurrency"] > 0


def test_throttled_inline_map_fails_after_retries() -> None:
    rules = zero_latency_rules(account_concurrency=10)

    repetition = simulate(VARIANTS["per-book"], make_items(100), Workload(30.0), rules, seed=0)

    assert repetition.status == "failed"
    assert "Lambda.TooManyRequestsException" in repetition.error
    assert repetition.aggregate_sha256 is None


def test_retry_waits_interval_then_succeeds() -> None:
    # The second item is throttled at t=0 by reserved concurrency 1 and retried
    # after IntervalSeconds (1 s), when the first item has finished.
    variant = VARIANTS["per-book"].with_knobs(reserved_concurrency=1)

    repetition = simulate(variant, make_items(2), Workload(0.5), zero_latency_rules(), seed=0)

    assert repetition.status == "succeeded"
    assert sorted(record["start"] for record in workers(repetition)) == [0.0, 1.0]
    assert repetition.counters["lambda_throttles"] == 1
    assert repetition.limits == {"reserved_concurrency": pytest.approx(1.0)}


def test_retry_backoff_doubles_the_interval() -> None:
    policy = RetryPolicy(interval_seconds=1.0, backoff_rate=2.0, max_attempts=3)

    assert [policy.delay_before(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]


def test_scaling_rate_adds_environments_per_the_refill() -> None:
    rules = zero_latency_rules(scaling_burst=10, scaling_refill_per_s=1.0)
    patient = RetryPolicy(interval_seconds=1.0, backoff_rate=1.0, max_attempts=100)
    variant = VARIANTS["per-book"].with_knobs(retry=patient)

    repetition = simulate(variant, make_items(20), Workload(100.0), rules, seed=0)

    cold_starts = sorted(record["start"] for record in workers(repetition) if record["cold"])
    assert cold_starts[:10] == [0.0] * 10
    assert cold_starts[10:] == [float(second) for second in range(1, 11)]
    assert repetition.limits["scaling_rate"] > 0


def test_provisioned_environments_take_no_cold_start() -> None:
    repetition = simulate(VARIANTS["provisioned"], make_items(100), Workload(1.0), zero_latency_rules(), seed=0)

    assert VARIANTS["provisioned"].provisioned == 40
    assert sum(1 for record in workers(repetition) if record["cold"]) == 0
    assert all(record["provisioned"] for record in workers(repetition))


def test_provisioned_spills_over_to_on_demand() -> None:
    variant = VARIANTS["provisioned"].with_knobs(provisioned=15)

    repetition = simulate(variant, make_items(40), Workload(1.0), zero_latency_rules(), seed=0)

    records = workers(repetition)
    assert sum(1 for record in records if record["provisioned"]) == 15
    assert sum(1 for record in records if record["cold"]) == 25


def test_state_transition_bucket_delays_transitions() -> None:
    rules = zero_latency_rules(transition_bucket=10, transition_refill_per_s=10.0)

    repetition = simulate(VARIANTS["per-book"], make_items(40), Workload(0.0), rules, seed=0)

    assert repetition.status == "succeeded"
    # One transition enters the Map; 40 iterations need 40 more: 31 wait for refill at 10/s.
    assert map_seconds(repetition) == pytest.approx(3.1)
    assert repetition.limits["state_transition_rate"] > 0


def test_distributed_children_start_at_the_dispatch_rate() -> None:
    rules = zero_latency_rules(express_child_start_rate=10.0)

    repetition = simulate(VARIANTS["distributed"], make_items(50), Workload(0.0), rules, seed=0)

    starts = sorted(record["start"] for record in workers(repetition))
    assert starts[:3] == pytest.approx([0.0, 0.1, 0.2])
    assert map_seconds(repetition) == pytest.approx(4.9)
    assert repetition.counters["express_executions"] == 50


def test_distributed_map_pays_setup_and_teardown() -> None:
    rules = zero_latency_rules(map_run_setup_s=2.0, map_run_teardown_s=1.0)

    repetition = simulate(VARIANTS["distributed"], make_items(10), Workload(1.0), rules, seed=0)

    # 2 s setup, the tenth child starts 9 ms late at 1,000 starts/s, 1 s work, 1 s teardown.
    assert map_seconds(repetition) == pytest.approx(4.009)
    assert worker_peak(repetition) == 10


def test_inline_map_history_limit_fails_the_execution() -> None:
    repetition = simulate(VARIANTS["per-book"], make_items(3600), Workload(0.0), zero_latency_rules(), seed=0)

    assert repetition.status == "failed"
    assert "25,000 events" in repetition.error


def test_payload_quota_fails_large_inline_input() -> None:
    # The execution input carries one S3 byte range per iteration: 30,000 of them exceed 256 KiB.
    repetition = simulate(VARIANTS["per-book"], make_items(30000), Workload(0.0), zero_latency_rules(), seed=0)

    assert repetition.status == "failed"
    assert repetition.error.startswith("States.DataLimitExceeded")


def test_batched_threads_divide_the_batch_time() -> None:
    sequential = VARIANTS["batched"].with_knobs(batch_size=10, batch_threads=1)
    threaded = VARIANTS["batched"].with_knobs(batch_size=10, batch_threads=5)

    slow = simulate(sequential, make_items(20), Workload(1.0), zero_latency_rules(), seed=0)
    fast = simulate(threaded, make_items(20), Workload(1.0), zero_latency_rules(), seed=0)

    assert map_seconds(slow) == pytest.approx(10.0)
    assert map_seconds(fast) == pytest.approx(2.0)
    assert len(workers(fast)) == 2


def test_same_seed_gives_identical_runs() -> None:
    workload = Workload(3.0, jitter=0.2)

    first = simulate(VARIANTS["sqs"], make_items(50), workload, AwsRules(), seed=7, index=2)
    second = simulate(VARIANTS["sqs"], make_items(50), workload, AwsRules(), seed=7, index=2)
    other = simulate(VARIANTS["sqs"], make_items(50), workload, AwsRules(), seed=8, index=2)

    assert first.to_dict() == second.to_dict()
    assert first.total_s != other.total_s


def test_variant_description_is_not_modified_by_knobs() -> None:
    changed = VARIANTS["batched"].with_knobs(batch_size=5, batch_threads=None)

    assert isinstance(changed, Variant)
    assert changed.batch_size == 5
    assert changed.batch_threads == VARIANTS["batched"].batch_threads
    assert VARIANTS["batched"].batch_size == 20


def test_esm_throttles_are_charged_to_reserved_concurrency() -> None:
    variant = VARIANTS["sqs"].with_knobs(reserved_concurrency=20)

    repetition = simulate(variant, make_items(300), Workload(3.0), zero_latency_rules(), seed=0)

    assert worker_peak(repetition) == 20
    assert max(repetition.limits, key=repetition.limits.__getitem__) == "reserved_concurrency"


def test_provisioned_over_account_limit_fails() -> None:
    rules = zero_latency_rules(account_concurrency=120)

    repetition = simulate(VARIANTS["provisioned"], make_items(5), Workload(1.0), rules, seed=0)

    assert repetition.status == "failed"
    assert repetition.error.startswith("InvalidParameterValueException")
    assert "at most 20" in repetition.error
