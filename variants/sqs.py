"""sqs: the orchestrator sends books to SQS; an event source mapping invokes the worker."""

from variants.base import Variant

VARIANT = Variant(
    name="sqs",
    fan_out="sqs",
    description="SQS queue drained by a Lambda event source mapping",
    esm_batch_size=1,
    esm_max_concurrency=None,
)
