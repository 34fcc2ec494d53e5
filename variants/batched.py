"""batched: an inline Map over batches of books, each batch processed by one worker."""

from variants.base import Variant

VARIANT = Variant(
    name="batched",
    fan_out="inline-map",
    description="Inline Map over batches of books, threads inside the worker",
    max_concurrency=1000,
    batch_size=20,
    batch_threads=20,
)
