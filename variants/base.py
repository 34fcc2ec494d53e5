"""The declarative description of a fan-out architecture that both backends read."""

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

FanOut = Literal["inline-map", "sqs", "distributed-map"]

# An inline Map runs at most 40 iterations at once, whatever its MaxConcurrency is.
# Source: AWS Step Functions developer guide, "Inline Map state" (state-map-inline).
INLINE_MAP_MAX_CONCURRENCY = 40

# ScalingConfig.MaximumConcurrency of an SQS event source mapping accepts 2-1,000.
# Source: AWS CloudFormation reference, AWS::Lambda::EventSourceMapping ScalingConfig.
ESM_MAX_CONCURRENCY_RANGE = (2, 1000)


@dataclass(frozen=True)
class RetryPolicy:
    """A Step Functions Retry block for Lambda throttling errors.

    The defaults are the Retry block that the Step Functions console adds to a
    Lambda Invoke task (Lambda.TooManyRequestsException and related errors).
    """

    interval_seconds: float = 1.0
    backoff_rate: float = 2.0
    max_attempts: int = 3
    errors: tuple[str, ...] = (
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    )

    def delay_before(self, retry_number: int) -> float:
        """Return the wait in seconds before retry number `retry_number` (1-based)."""
        return self.interval_seconds * self.backoff_rate ** (retry_number - 1)


@dataclass(frozen=True)
class Variant:
    """One fan-out architecture, with every knob that shapes its run.

    `batch_size` is the number of items one worker invocation processes: 1 for
    per-book, the batch size for batched, the ItemBatcher size for distributed.
    For sqs the ESM batch size is `esm_batch_size`.
    """

    name: str
    fan_out: FanOut
    description: str
    max_concurrency: int = 0
    batch_size: int = 1
    batch_threads: int = 1
    provisioned: int = 0
    reserved_concurrency: int | None = None
    esm_batch_size: int = 1
    esm_max_concurrency: int | None = None
    memory_mb: int = 1024
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def items_per_invocation(self) -> int:
        """Return how many items one worker invocation receives at most."""
        if self.fan_out == "sqs":
            return self.esm_batch_size
        return self.batch_size

    @property
    def inline_concurrency_cap(self) -> int:
        """Return the iterations an inline Map runs at once, before any throttling."""
        if self.max_concurrency > 0:
            return min(self.max_concurrency, INLINE_MAP_MAX_CONCURRENCY)
        return INLINE_MAP_MAX_CONCURRENCY

    def with_knobs(self, **knobs: Any) -> "Variant":
        """Return a copy with the given knobs changed; None values are ignored."""
        changes = {name: value for name, value in knobs.items() if value is not None}
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the description as JSON-ready data for result files."""
        data = asdict(self)
        data["retry"]["errors"] = list(self.retry.errors)
        return data
