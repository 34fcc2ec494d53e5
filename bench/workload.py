"""The per-item service-time model: how long the worker spends on one item."""

import math
import random
from dataclasses import dataclass

from bench.errors import InputError


@dataclass(frozen=True)
class Workload:
    """Service time per item: `work_seconds` scaled by a lognormal factor.

    `jitter` is the factor's coefficient of variation, and 0 gives every item
    exactly `work_seconds`. The factor has mean 1, so jitter does not change
    the mean work per item.
    """

    work_seconds: float = 3.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.work_seconds < 0:
            raise InputError(f"--work-seconds is {self.work_seconds}; expected 0 or more seconds")
        if self.jitter < 0:
            raise InputError(f"--jitter is {self.jitter}; expected 0 or more (0.1 means 10 % variation)")

    def sample(self, rng: random.Random, count: int) -> list[float]:
        """Return `count` service times in seconds drawn from `rng`."""
        if self.jitter == 0:
            return [self.work_seconds] * count

        sigma = math.sqrt(math.log(1 + self.jitter**2))
        mu = -sigma**2 / 2
        return [self.work_seconds * rng.lognormvariate(mu, sigma) for _ in range(count)]
