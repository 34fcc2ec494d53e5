"""The five fan-out architectures, as declarative descriptions both backends read."""

from variants import batched, distributed, per_book, provisioned, sqs
from variants.base import (
    ESM_MAX_CONCURRENCY_RANGE,
    INLINE_MAP_MAX_CONCURRENCY,
    RetryPolicy,
    Variant,
)

VARIANTS: dict[str, Variant] = {
    module.VARIANT.name: module.VARIANT
    for module in (per_book, batched, sqs, provisioned, distributed)
}

__all__ = [
    "ESM_MAX_CONCURRENCY_RANGE",
    "INLINE_MAP_MAX_CONCURRENCY",
    "VARIANTS",
    "RetryPolicy",
    "Variant",
    "get_variant",
]


def get_variant(name: str) -> Variant:
    """Return the variant called `name`; raise KeyError listing the known names."""
    try:
        return VARIANTS[name]
    except KeyError:
        known = ", ".join(VARIANTS)
        raise KeyError(f"unknown variant {name!r}; expected one of: {known}") from None
