"""The three fan-out mechanisms: inline Map, distributed Map and an SQS event source mapping."""

import math
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, Generator

import simpy

from bench.cost import express_billed_ms
from bench.sim.clock import TokenBucket
from bench.sim.engine import Region
from bench.sim.lambdas import Throttled

# Events one inline Map iteration with a single Task state adds to the parent history:
# MapIterationStarted, TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded,
# TaskStateExited, MapIterationSucceeded.
EVENTS_PER_INLINE_ITERATION = 7

Unit = list[int]  # indices of the items one worker invocation processes
ServiceTime = Callable[[Unit], float]
OnDone = Callable[[Unit], None]


def inline_map(region: Region, units: list[Unit], service_time: ServiceTime, on_done: OnDone) -> Generator:
    """Run an inline Map: at most min(MaxConcurrency, 40) iterations at once, in item order."""
    rules, variant = region.rules, region.variant
    cap = rules.inline_map_max_concurrency
    reason = "inline_map_cap"
    if 0 < variant.max_concurrency < cap:
        cap, reason = variant.max_concurrency, "max_concurrency"

    map_start = region.now
    pending = iter(units)

    def iteration_slot() -> Generator:
        for unit in pending:
            region.hold(reason, region.now - map_start, len(unit))
            region.add_history_events(EVENTS_PER_INLINE_ITERATION)
            delay = region.transition()
            region.hold("state_transition_rate", delay, len(unit))
            yield region.env.timeout(delay)
            yield from region.invoke("worker", service_time(unit), len(unit))
            on_done(unit)

    slots = [region.env.process(iteration_slot()) for _ in range(min(cap, len(units)))]
    yield region.env.all_of(slots)


def distributed_map(region: Region, units: list[Unit], service_time: ServiceTime, on_done: OnDone) -> Generator:
    """Run a distributed Map Run of Express children, started at the documented child start rate."""
    rules, variant = region.rules, region.variant
    env = region.env
    cap = rules.distributed_max_children
    if variant.max_concurrency > 0:
        cap = min(cap, variant.max_concurrency)

    # The Map Run reads its items with one S3 GetObject (ItemReader) after its setup.
    region.counters["s3_get_requests"] += 1
    region.add_history_events(4)
    yield env.timeout(rules.map_run_setup_s + rules.s3_get_latency_s)

    # Children start at most `express_child_start_rate` per second, one by one.
    dispatch = TokenBucket(1, rules.express_child_start_rate)
    dispatch_start = region.now
    pending = iter(units)

    def child_slot() -> Generator:
        for unit in pending:
            region.hold("max_concurrency", region.now - dispatch_start, len(unit))
            delay = dispatch.reserve(env.now)
            region.hold("distributed_dispatch_rate", delay, len(unit))
            yield env.timeout(delay)

            child_start = env.now
            yield from region.invoke("worker", service_time(unit), len(unit))
            region.counters["express_executions"] += 1
            billed = express_billed_ms((env.now - child_start) * 1000)
            region.counters["express_duration_ms"] += billed
            on_done(unit)

    slots = [env.process(child_slot()) for _ in range(min(cap, len(units)))]
    yield env.all_of(slots)

    # The children stored their results in S3 themselves; the Map Run completes.
    region.add_history_events(3)
    yield env.timeout(rules.map_run_teardown_s)


class EventSourceMapping:
    """An SQS event source mapping: pollers that ramp from 5 by up to 300 per minute.

    Source: AWS Lambda developer guide, configuring scaling behavior for SQS
    event source mappings. Messages waiting while every allowed poller is busy
    are charged to the ramp, or to the maximum concurrency once the ramp reached
    it. While pollers back off from throttled invokes, the queue's wait is
    charged to the limit that throttled them instead.
    """

    def __init__(self, region: Region, total_items: int, service_time: ServiceTime, on_done: OnDone) -> None:
        self.region = region
        self.total_items = total_items
        self.service_time = service_time
        self.on_done = on_done
        self.queue: deque[int] = deque()
        self.taken = 0
        self.active = 0
        self.first_message_at: float | None = None
        self.backing_off: Counter[str] = Counter()  # pollers waiting after a throttle, by limit
        self._wake = region.env.event()

        self.cap = region.rules.esm_max_concurrency
        if region.variant.esm_max_concurrency is not None:
            self.cap = min(self.cap, region.variant.esm_max_concurrency)

    def send(self, item_indices: list[int]) -> None:
        """Make messages visible in the queue now."""
        if self.first_message_at is None:
            self.first_message_at = self.region.now
        self.queue.extend(item_indices)
        self._poke()

    def _poke(self) -> None:
        if not self._wake.triggered:
            self._wake.succeed()

    def _elapsed(self, now: float) -> float:
        return 0.0 if self.first_message_at is None else now - self.first_message_at

    def concurrency_limit(self, now: float) -> int:
        """Return how many batches the mapping may process at `now`."""
        rules = self.region.rules
        elapsed = self._elapsed(now)
        ramp = rules.esm_initial_concurrency + math.floor(rules.esm_scale_per_minute * elapsed / 60 + 1e-9)
        return min(ramp, self.cap)

    def _next_ramp_step(self, now: float) -> float:
        step = 60 / self.region.rules.esm_scale_per_minute
        elapsed = self._elapsed(now)
        return (math.floor(elapsed / step + 1e-9) + 1) * step - elapsed

    def run(self) -> Generator:
        """Poll until every message has been handed to an invocation."""
        env = self.region.env
        last_time, blocked_by, blocked_items = env.now, None, 0

        while self.taken < self.total_items:
            if blocked_by is not None:
                self.region.hold(blocked_by, env.now - last_time, blocked_items)

            limit = self.concurrency_limit(env.now)
            while self.queue and self.active < limit:
                self._start_batch()

            # Messages still queued now wait because every allowed poller is busy.
            last_time = env.now
            blocked_items = len(self.queue)
            blocked_by = None
            if self.queue and self.backing_off:
                blocked_by = self.backing_off.most_common(1)[0][0]
            elif self.queue:
                blocked_by = "esm_ramp" if limit < self.cap else "esm_max_concurrency"

            self._wake = env.event()
            waits: list[simpy.Event] = [self._wake]
            if self.queue and limit < self.cap:
                waits.append(env.timeout(self._next_ramp_step(env.now)))
            yield env.any_of(waits)

    def _start_batch(self) -> None:
        size = min(self.region.variant.esm_batch_size, len(self.queue))
        batch = [self.queue.popleft() for _ in range(size)]
        self.taken += size
        self.active += 1
        self.region.env.process(self._invoke(batch))

    def _invoke(self, batch: Unit) -> Generator:
        region = self.region
        rules = region.rules
        region.counters["sqs_requests"] += 1  # ReceiveMessage
        yield region.env.timeout(rules.esm_poll_latency_s)

        while True:
            try:
                yield from region.invoke("worker", self.service_time(batch), len(batch), retry=False)
                break
            except Throttled as throttle:
                region.hold(throttle.limit, rules.esm_throttle_backoff_s, len(batch))
                self.backing_off[throttle.limit] += 1
                yield region.env.timeout(rules.esm_throttle_backoff_s)
                self.backing_off[throttle.limit] -= 1
                self.backing_off += Counter()  # drop limits no poller waits for any more

        region.counters["sqs_requests"] += 1  # DeleteMessageBatch
        self.active -= 1
        self.on_done(batch)
        self._poke()


def count_sqs_send(region: Region, payload: list[dict[str, Any]]) -> None:
    """Count one SendMessageBatch in 64 KB request units."""
    import json

    size = len(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    region.counters["sqs_requests"] += max(1, math.ceil(size / 65536))
