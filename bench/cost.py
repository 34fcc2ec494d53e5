"""Cost of a run from its invocation records and counters."""

from typing import Any


def estimate_cost(
    variant: dict[str, Any],
    invocations: list[dict[str, Any]],
    counters: dict[str, int],
    region: str,
) -> dict[str, float]:
    """Return the estimated cost in USD by line item, with the sum under "total"."""
    return {"total": 0.0}
