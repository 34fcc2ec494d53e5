"""The simulated Region: SimPy environment, Lambda functions, buckets and the records of a run."""

import heapq
import math
import random
from collections import Counter
from typing import Any, Generator

import simpy

from bench.sim.clock import SimTime, TokenBucket
from bench.sim.lambdas import LambdaAccount, LambdaFunction, Lease, Throttled
from bench.sim.rules import AwsRules
from variants import Variant


class ExecutionFailed(Exception):
    """The simulated pipeline failed as the real one would; the message names the AWS error."""


def makespan(durations: list[float], threads: int) -> float:
    """Return the time `threads` workers take to run `durations` in order, each taking the next free thread."""
    if threads <= 1:
        return sum(durations)
    finish_times = [0.0] * min(threads, len(durations))
    for duration in durations:
        earliest = heapq.heappop(finish_times)
        heapq.heappush(finish_times, earliest + duration)
    return max(finish_times, default=0.0)


# Lambda keeps at least 100 units of the account's concurrency unreserved, so reserved and
# provisioned concurrency together can take at most the limit minus 100.
# Source: AWS Lambda developer guide, configuring reserved concurrency.
MIN_UNRESERVED_CONCURRENCY = 100


def check_concurrency_configuration(variant: Variant, rules: AwsRules) -> None:
    """Fail like Lambda's PutFunctionConcurrency/PutProvisionedConcurrencyConfig on an over-allocation."""
    allocated = max(variant.reserved_concurrency or 0, variant.provisioned)
    available = rules.account_concurrency - MIN_UNRESERVED_CONCURRENCY
    if allocated > 0 and allocated > available:
        raise ExecutionFailed(
            f"InvalidParameterValueException: the worker's reserved or provisioned concurrency ({allocated}) "
            f"must leave {MIN_UNRESERVED_CONCURRENCY} of the account's {rules.account_concurrency} unreserved, "
            f"so at most {max(available, 0)}; lower --provisioned/--reserved-concurrency or raise "
            "--account-concurrency"
        )


class Region:
    """Everything one repetition shares: the clock, the Lambda account, buckets and records."""

    def __init__(self, variant: Variant, rules: AwsRules, rng: random.Random) -> None:
        self.env = simpy.Environment()
        self.variant = variant
        self.rules = rules
        self.rng = rng
        self.account = LambdaAccount(rules.account_concurrency)
        self.transitions = TokenBucket(rules.transition_bucket, rules.transition_refill_per_s)
        self.start_executions = TokenBucket(rules.start_execution_bucket, rules.start_execution_refill_per_s)
        self.functions = {
            "orchestrator": self._function("orchestrator", rules.boto3_init_s),
            "worker": self._function(
                "worker", rules.worker_init_s, variant.reserved_concurrency, variant.provisioned
            ),
            "aggregator": self._function("aggregator", rules.boto3_init_s),
        }
        self.invocations: list[dict[str, Any]] = []
        self.counters: Counter[str] = Counter()
        self.limits: Counter[str] = Counter()
        self.history_events = 0

    def _function(self, name: str, init_s: float, reserved: int | None = None, provisioned: int = 0) -> LambdaFunction:
        budget = TokenBucket(self.rules.scaling_burst, self.rules.scaling_refill_per_s)
        return LambdaFunction(name, self.account, init_s, budget, reserved, provisioned)

    @property
    def now(self) -> SimTime:
        """Return the current simulated time in seconds."""
        return SimTime(self.env.now)

    def hold(self, limit: str, seconds: float, items: int) -> None:
        """Record that `limit` held `items` items back for `seconds`."""
        if seconds > 0:
            self.limits[limit] += seconds * items

    def transition(self) -> float:
        """Take a state-transition token; return the delay until the transition happens."""
        self.counters["state_transitions"] += 1
        return self.transitions.reserve(self.env.now)

    def add_history_events(self, count: int) -> None:
        """Count events in the Standard execution's history; fail past the quota."""
        self.history_events += count
        if self.history_events > self.rules.history_event_limit:
            raise ExecutionFailed(
                f"States.Runtime: the execution history exceeded {self.rules.history_event_limit:,} events "
                "(each inline Map iteration adds about 7); use the distributed or batched variant"
            )

    def check_payload(self, what: str, size_bytes: int) -> None:
        """Fail like Step Functions when a state's input or output exceeds the payload quota."""
        if size_bytes > self.rules.payload_limit_bytes:
            raise ExecutionFailed(
                f"States.DataLimitExceeded: {what} is {size_bytes:,} bytes, over the "
                f"{self.rules.payload_limit_bytes:,}-byte payload quota; use the distributed variant "
                "or fewer items (--items)"
            )

    def invoke(
        self,
        function_name: str,
        work: float | Generator[simpy.Event, Any, None],
        items: int,
        retry: bool = True,
    ) -> Generator[simpy.Event, Any, Lease]:
        """Invoke a function synchronously, retrying throttles per the variant's Retry block.

        `work` is the handler's duration in seconds, or a process for a handler
        whose calls take effect while it runs (the orchestrator sends messages).
        With `retry` False a throttle raises Throttled to the caller. Otherwise
        each throttled attempt waits IntervalSeconds x BackoffRate^(n-1) before
        the next, and after MaxAttempts retries the task fails. The wait is
        charged to the limit that caused the throttle.
        """
        function = self.functions[function_name]
        policy = self.variant.retry
        retries = 0
        yield self.env.timeout(self.rules.invoke_latency_s)

        while True:
            try:
                lease = function.acquire(self.env.now)
                break
            except Throttled as throttle:
                self.counters["lambda_throttles"] += 1
                if not retry:
                    raise
                if retries >= policy.max_attempts:
                    raise ExecutionFailed(
                        f"Lambda.TooManyRequestsException: {function_name} throttled by {throttle.limit} "
                        f"after {retries} retries"
                    ) from None
                retries += 1
                self.counters["state_transitions"] += 1
                self.add_history_events(3)
                delay = policy.delay_before(retries)
                self.hold(throttle.limit, delay, items)
                yield self.env.timeout(delay)

        start = self.env.now
        init_s = function.init_s if lease.cold else 0.0
        if isinstance(work, (int, float)):
            yield self.env.timeout(init_s + work)
        else:
            yield self.env.timeout(init_s)
            yield from work
        function.release(lease)
        self.record(function_name, start, init_s, lease, items)
        return lease

    def record(self, function_name: str, start: float, init_s: float, lease: Lease, items: int) -> None:
        """Append the invocation record of an invocation that ends now."""
        end = self.env.now
        # Lambda bills in 1 ms units; init is billed for on-demand functions since 2025-08-01
        # and never for provisioned environments. Source: AWS Lambda pricing.
        billed_ms = math.ceil(round((end - start) * 1000, 6))
        self.counters["lambda_requests"] += 1
        self.invocations.append(
            {
                "function": function_name,
                "start": start,
                "end": end,
                "init_s": init_s,
                "cold": lease.cold,
                "billed_ms": billed_ms,
                "items": items,
                "environment": lease.environment,
                "provisioned": lease.provisioned,
            }
        )
