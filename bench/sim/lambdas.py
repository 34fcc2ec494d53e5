"""Lambda execution environments: concurrency, scaling rate, cold starts and reuse."""

from dataclasses import dataclass

from bench.sim.clock import TokenBucket


class Throttled(Exception):
    """An invoke was rejected with 429 TooManyRequestsException; `limit` names the cause."""

    def __init__(self, limit: str) -> None:
        super().__init__(f"Lambda.TooManyRequestsException: throttled by {limit}")
        self.limit = limit


@dataclass
class Lease:
    """One execution environment handed to one invocation."""

    environment: int
    cold: bool
    provisioned: bool


class LambdaAccount:
    """The Region's concurrency pool shared by every function of the account.

    Provisioned concurrency is allocated out of the pool, so on-demand
    invocations can use the account limit minus all provisioned environments.
    Source: AWS Lambda developer guide, understanding Lambda function scaling.
    """

    def __init__(self, concurrency_limit: int) -> None:
        self.concurrency_limit = concurrency_limit
        self.provisioned_total = 0
        self.on_demand_busy = 0

    @property
    def on_demand_available(self) -> int:
        """Return the on-demand environments that can start now."""
        return self.concurrency_limit - self.provisioned_total - self.on_demand_busy


class LambdaFunction:
    """One function's environments, reserved concurrency and scaling budget."""

    def __init__(
        self,
        name: str,
        account: LambdaAccount,
        init_s: float,
        scaling_budget: TokenBucket,
        reserved: int | None = None,
        provisioned: int = 0,
    ) -> None:
        self.name = name
        self.account = account
        self.init_s = init_s
        self.scaling_budget = scaling_budget
        self.reserved = reserved
        self.busy = 0
        self._next_environment = provisioned
        self._idle: list[int] = []
        self._idle_provisioned = list(range(provisioned - 1, -1, -1))
        self._provisioned_ids = frozenset(range(provisioned))
        account.provisioned_total += provisioned

    def acquire(self, now: float) -> Lease:
        """Return an environment for one invocation; raise Throttled when none may start.

        Order of checks, as Lambda applies them: an idle provisioned environment
        first, then reserved concurrency, account concurrency, a warm on-demand
        environment, and last the scaling budget for a new (cold) environment.
        """
        if self._idle_provisioned:
            self.busy += 1
            return Lease(self._idle_provisioned.pop(), cold=False, provisioned=True)

        if self.reserved is not None and self.busy >= self.reserved:
            raise Throttled("reserved_concurrency")
        if self.account.on_demand_available <= 0:
            raise Throttled("account_concurrency")

        if self._idle:
            lease = Lease(self._idle.pop(), cold=False, provisioned=False)
        elif self.scaling_budget.try_take(now):
            lease = Lease(self._next_environment, cold=True, provisioned=False)
            self._next_environment += 1
        else:
            raise Throttled("scaling_rate")

        self.busy += 1
        self.account.on_demand_busy += 1
        return lease

    def release(self, lease: Lease) -> None:
        """Return the environment to the warm pool for reuse."""
        self.busy -= 1
        if lease.provisioned:
            self._idle_provisioned.append(lease.environment)
            return
        self.account.on_demand_busy -= 1
        self._idle.append(lease.environment)
