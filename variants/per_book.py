"""per-book: a Standard workflow whose inline Map invokes the worker once per book."""

from variants.base import Variant

VARIANT = Variant(
    name="per-book",
    fan_out="inline-map",
    description="Inline Map, one worker invocation per book",
    # The reference pipeline set MaxConcurrency to 1000; the inline Map still caps it at 40.
    max_concurrency=1000,
)
