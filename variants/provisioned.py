"""provisioned: per-book with provisioned concurrency on the worker's alias."""

from variants.base import INLINE_MAP_MAX_CONCURRENCY, Variant

VARIANT = Variant(
    name="provisioned",
    fan_out="inline-map",
    description="Inline Map per book, worker alias with provisioned concurrency",
    max_concurrency=1000,
    # More provisioned environments than the inline Map can keep busy are paid for idle.
    provisioned=INLINE_MAP_MAX_CONCURRENCY,
)
