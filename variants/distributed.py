"""distributed: a distributed Map reads books from S3 and starts Express child workflows."""

from variants.base import Variant

VARIANT = Variant(
    name="distributed",
    fan_out="distributed-map",
    description="Distributed Map with S3 ItemReader and Express children",
    max_concurrency=1000,
    batch_size=1,
)
