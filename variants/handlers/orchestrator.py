"""Lambda entry point of the orchestrator: read the reading list and start the fan-out."""

import json
import math
import time
from typing import Any

from .batching import make_batches
from .lambda_io import Invocation, Settings, client
from .readinglist import parse_reading_list

# SendMessageBatch carries at most 10 messages, and SQS bills each 64 KB of a request's
# payload as one request. Source: Amazon SQS API reference, SendMessageBatch; Amazon SQS pricing.
SQS_BATCH_LIMIT = 10
SQS_BILLING_UNIT_BYTES = 65536
SQS_SEND_ATTEMPTS = 3


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Parse the CSV at s3://bucket/event["input_key"] and fan its books out.

    The event carries "run" (run_id, variant, repetition and the S3 "prefix"
    of this repetition), "input_key" and "limit" (how many leading books to
    use). Returns the number of books and, for Step Functions variants, the
    execution ARN.
    """
    settings = Settings.from_environment()
    run = event["run"]
    with Invocation("orchestrator", context, run) as invocation:
        body = client("s3").get_object(Bucket=settings.bucket, Key=event["input_key"])["Body"].read()
        invocation.count("s3_get")
        items = parse_reading_list(body)[: event["limit"]]
        invocation.items = len(items)

        if settings.fan_out == "sqs":
            invocation.extra["first_send"] = send_to_queue(settings, run, items, invocation)
            return {"items": len(items)}
        execution_arn = start_execution(settings, run, items, invocation)
        return {"items": len(items), "execution_arn": execution_arn}


def start_execution(
    settings: Settings, run: dict[str, Any], items: list[dict[str, Any]], invocation: Invocation
) -> str:
    """Store the items in S3 and start the state machine with a reference to them.

    The distributed Map reads items.json with its ItemReader. The inline Map
    iterates over "ranges", the byte range of each worker's lines in
    items.jsonl, so the execution input stays small for any number of books.
    Step Functions caps the input and output of an execution, state or task at
    262,144 bytes of UTF-8 JSON, and AWS recommends storing larger data in S3
    and passing its location. Source: AWS Step Functions developer guide,
    Step Functions service quotas; use Amazon S3 ARNs instead of passing large
    payloads.
    """
    body, execution_input = stage_items(settings.fan_out, settings.batch_size, run, items)
    client("s3").put_object(Bucket=settings.bucket, Key=execution_input["items_key"], Body=body)
    invocation.count("s3_put")

    response = client("stepfunctions").start_execution(
        stateMachineArn=settings.state_machine_arn,
        name=f"{run['run_id']}-rep{run['repetition']}",
        input=json.dumps(execution_input, separators=(",", ":")),
    )
    invocation.count("states_start")
    return response["executionArn"]


def stage_items(
    fan_out: str, batch_size: int, run: dict[str, Any], items: list[dict[str, Any]]
) -> tuple[bytes, dict[str, Any]]:
    """Return the items object's body and the execution input that refers to it under "items_key"."""
    execution_input: dict[str, Any] = {"run": run, "total": len(items)}
    if fan_out == "distributed-map":
        execution_input["items_key"] = f"{run['prefix']}items.json"
        return json.dumps(items, separators=(",", ":")).encode("utf-8"), execution_input

    execution_input["items_key"] = f"{run['prefix']}items.jsonl"
    body, execution_input["ranges"] = encode_json_lines(items, batch_size)
    return body, execution_input


def encode_json_lines(items: list[dict[str, Any]], unit_size: int) -> tuple[bytes, list[list[int]]]:
    """Encode `items` as JSON Lines and return the bytes and the [offset, length] byte range of each unit.

    A unit is `unit_size` consecutive items, the books one worker invocation
    processes, so each range covers whole lines. json.dumps escapes newlines
    inside strings, so a newline byte only ever ends a line.
    """
    lines = [json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n" for item in items]

    ranges = []
    offset = 0
    for unit in make_batches(lines, unit_size):
        length = sum(len(line) for line in unit)
        ranges.append([offset, length])
        offset += length
    return b"".join(lines), ranges


def send_to_queue(
    settings: Settings, run: dict[str, Any], items: list[dict[str, Any]], invocation: Invocation
) -> float:
    """Send one message per book, 10 per SendMessageBatch; return the time of the first send."""
    sqs = client("sqs")
    queue_url = sqs.get_queue_url(QueueName=settings.queue_name)["QueueUrl"]
    invocation.count("sqs_units")
    first_send = time.time()
    for batch in make_batches(items, SQS_BATCH_LIMIT):
        entries = [
            {"Id": str(index), "MessageBody": json.dumps({"item": item, "run": run, "total": len(items)})}
            for index, item in enumerate(batch)
        ]
        _send_batch(sqs, queue_url, entries, invocation)
    return first_send


def _send_batch(sqs: Any, queue_url: str, entries: list[dict[str, str]], invocation: Invocation) -> None:
    """Send `entries`, resending the ones SQS reports as failed."""
    for _ in range(SQS_SEND_ATTEMPTS):
        payload = sum(len(entry["MessageBody"].encode("utf-8")) for entry in entries)
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        invocation.count("sqs_units", max(1, math.ceil(payload / SQS_BILLING_UNIT_BYTES)))
        failed = {failure["Id"] for failure in response.get("Failed", [])}
        entries = [entry for entry in entries if entry["Id"] in failed]
        if not entries:
            return
    raise RuntimeError(f"SendMessageBatch failed for {len(entries)} messages after {SQS_SEND_ATTEMPTS} attempts")
