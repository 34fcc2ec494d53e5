"""One repetition of a variant on the simulator: orchestrator, fan-out and aggregator."""

import json
import math
import random
from typing import Any, Generator

from bench.workload import Workload

from bench.sim.engine import Region, makespan
from bench.sim.fanout import EventSourceMapping, Unit, count_sqs_send, distributed_map, inline_map
from variants.handlers.aggregate import aggregate_digest, merge_results
from variants.handlers.aggregator import FETCH_THREADS
from variants.handlers.batching import make_batches
from variants.handlers.enrich import enrich_book

# SendMessageBatch carries at most 10 messages. Source: Amazon SQS API reference, SendMessageBatch.
SQS_SEND_BATCH_LIMIT = 10
# Placeholder bucket name; only the size of the payload that names it matters to the model.
RUN_BUCKET = "fanout-bench-run-0123456789ab"


def compact_json_size(value: Any) -> int:
    """Return the size in bytes of `value` as compact JSON, as Step Functions measures payloads."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


class Pipeline:
    """The processes of one repetition and the results the real handlers produce."""

    def __init__(self, region: Region, items: list[dict[str, Any]], service_times: list[float]) -> None:
        self.region = region
        self.items = items
        self.service_times = service_times
        self.results: list[dict[str, Any]] = []
        self.stages: dict[str, tuple[float, float]] = {}
        self.summary: dict[str, Any] | None = None
        self.worker_invocations = 0
        self.sqs_done = region.env.event()  # fires when the sqs variant's aggregator has finished

    # Worker units and their real work

    def units(self) -> list[Unit]:
        """Return the item indices each worker invocation (or SQS message) carries."""
        variant = self.region.variant
        size = 1 if variant.fan_out == "sqs" else variant.batch_size
        return make_batches(list(range(len(self.items))), size)

    def service_time(self, unit: Unit) -> float:
        """Return the worker's handler time for `unit`: its items over the threads, plus its S3 calls."""
        durations = [self.service_times[index] for index in unit]
        return makespan(durations, self.region.variant.batch_threads) + self._worker_io_s()

    def _worker_io_s(self) -> float:
        rules, fan_out = self.region.rules, self.region.variant.fan_out
        if fan_out == "inline-map":
            return rules.s3_get_latency_s + rules.s3_put_latency_s  # ranged GET of its items, PUT of its results
        if fan_out == "sqs":
            return rules.s3_put_latency_s + rules.dynamodb_update_latency_s  # results, completion counter
        return rules.s3_put_latency_s  # a distributed Map child receives its items and PUTs its results

    def complete(self, unit: Unit) -> None:
        """Run the real worker code on `unit` once its invocation has ended."""
        self.worker_invocations += 1
        counters = self.region.counters
        if self.region.variant.fan_out == "inline-map":
            counters["s3_get_requests"] += 1
        if self.region.variant.fan_out != "sqs":
            counters["s3_put_requests"] += 1
        self.results.extend(enrich_book(self.items[index]) for index in unit)

    # Stages

    def run(self) -> Generator:
        """Run the whole pipeline; the map stage's shape depends on the variant."""
        fan_out = self.region.variant.fan_out
        if fan_out == "sqs":
            yield from self._run_sqs()
        else:
            yield from self._run_state_machine(distributed=fan_out == "distributed-map")

    def _orchestrator_read(self) -> Generator:
        rules = self.region.rules
        self.region.counters["s3_get_requests"] += 1
        yield self.region.env.timeout(rules.s3_get_latency_s + len(self.items) * rules.parse_s_per_row)

    def _start_execution(self, execution_input: Any) -> Generator:
        region = self.region
        region.check_payload("the execution input", compact_json_size(execution_input))
        delay = region.start_executions.reserve(region.env.now)
        yield region.env.timeout(delay + region.rules.start_execution_latency_s)

    def _run_state_machine(self, distributed: bool) -> Generator:
        region, rules, env = self.region, self.region.rules, self.region.env
        units = self.units()

        def orchestrator_body() -> Generator:
            yield from self._orchestrator_read()
            region.counters["s3_put_requests"] += 1
            yield env.timeout(rules.s3_put_latency_s)
            if distributed:
                yield from self._start_execution({"bucket": RUN_BUCKET, "key": "items.json"})
            else:
                yield from self._start_execution(self._execution_input(units))

        yield from region.invoke("orchestrator", orchestrator_body(), len(self.items), retry=False)
        self.stages["orchestrator"] = (0.0, env.now)

        region.add_history_events(3)  # ExecutionStarted, MapStateEntered, MapStateStarted
        yield env.timeout(region.transition() + rules.transition_latency_s)
        map_start = env.now
        if distributed:
            yield from distributed_map(region, units, self.service_time, self.complete)
        else:
            yield from inline_map(region, units, self.service_time, self.complete)
            result_keys = [f"results/{number:06d}.json" for number in range(len(units))]
            region.check_payload("the Map state's output", compact_json_size(result_keys))
        self.stages["map"] = (map_start, env.now)

        region.add_history_events(5)  # MapStateSucceeded, MapStateExited, aggregator Task events
        yield env.timeout(region.transition() + rules.transition_latency_s)
        # The aggregator reads one result object per Map iteration or child execution.
        yield from self._aggregate(fetches=len(units))

    def _execution_input(self, units: list[Unit]) -> dict[str, Any]:
        """Return the inline Map's input: the byte range of each unit in the items object.

        Items and results travel through S3 and only references travel in the
        payload, as AWS recommends for data that may exceed the 256 KiB quota.
        """
        line_sizes = [compact_json_size(item) + 1 for item in self.items]  # JSON Lines, one item a line
        offsets = [0]
        for size in line_sizes:
            offsets.append(offsets[-1] + size)
        ranges = [[offsets[unit[0]], offsets[unit[-1] + 1] - offsets[unit[0]]] for unit in units]
        return {"bucket": RUN_BUCKET, "key": "items.jsonl", "ranges": ranges}

    def _run_sqs(self) -> Generator:
        region, rules, env = self.region, self.region.rules, self.region.env
        mapping = EventSourceMapping(region, len(self.items), self.service_time, self._complete_sqs)
        env.process(mapping.run())

        def orchestrator_body() -> Generator:
            yield from self._orchestrator_read()
            for batch in make_batches(list(range(len(self.items))), SQS_SEND_BATCH_LIMIT):
                if "map" not in self.stages:
                    self.stages["map"] = (env.now, env.now)
                count_sqs_send(region, [self.items[i] for i in batch])
                yield env.timeout(rules.sqs_send_batch_latency_s)
                mapping.send(batch)

        yield from region.invoke("orchestrator", orchestrator_body(), len(self.items), retry=False)
        self.stages["orchestrator"] = (0.0, env.now)
        yield self.sqs_done

    def _complete_sqs(self, unit: Unit) -> None:
        self.complete(unit)
        self.region.counters["s3_put_requests"] += 1
        self.region.counters["dynamodb_write_requests"] += 1
        if len(self.results) == len(self.items):
            self.stages["map"] = (self.stages["map"][0], self.region.env.now)
            self.region.env.process(self._aggregate_async())

    def _aggregate_async(self) -> Generator:
        # The last worker invokes the aggregator asynchronously (InvocationType Event).
        yield from self._aggregate(fetches=self.worker_invocations)
        self.sqs_done.succeed()

    def _aggregate(self, fetches: int) -> Generator:
        region, rules, env = self.region, self.region.rules, self.region.env
        start = env.now

        def aggregator_body() -> Generator:
            rounds = math.ceil(fetches / FETCH_THREADS)
            region.counters["s3_get_requests"] += fetches
            region.counters["s3_put_requests"] += 1
            work = rounds * rules.s3_get_latency_s + len(self.results) * rules.merge_s_per_result
            yield env.timeout(work + rules.s3_put_latency_s)
            self.summary = merge_results(self.results)

        yield from region.invoke("aggregator", aggregator_body(), len(self.results))
        self.stages["aggregator"] = (start, env.now)


def sample_service_times(workload: Workload, seed: int, index: int, count: int) -> list[float]:
    """Draw the per-item service times of repetition `index`, the same for every variant."""
    rng = random.Random(seed * 1_000_003 + index)
    return workload.sample(rng, count)


def digest_of(summary: dict[str, Any] | None) -> str | None:
    """Return the aggregate digest, or None when the run produced no summary."""
    return aggregate_digest(summary) if summary is not None else None
