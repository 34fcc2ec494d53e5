"""Lambda entry point of the worker: enrich its books, then wait out each book's service time."""

import json
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .enrich import enrich_book
from .lambda_io import Invocation, Settings, client


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Process the books in `event`, in one of the four shapes the fan-outs deliver, and store the results.

    Inline Map: {"range": [offset, length], "index": i, "items_key": key,
    "run": {...}}, the byte range of its lines in the JSON Lines items object.
    Distributed Map: {"item": book, "run": {...}}, or {"Items": [...]} of
    those with an ItemBatcher. SQS: {"Records": [...]} whose bodies are
    {"item", "run", "total"}. Every worker writes its results to S3 and
    returns {"stored": key, "items": count}. The SQS worker also counts
    completed books in DynamoDB and starts the aggregator when the count
    reaches the total.
    """
    settings = Settings.from_environment()
    if "range" in event:
        return handle_range(event, context, settings)

    items, run, total = unpack(event)
    with Invocation("worker", context, run) as invocation:
        invocation.items = len(items)
        results = process(items, settings)

        key = store_results(settings, run, results, invocation, name=f"{results[0]['id']:07d}")
        if settings.fan_out == "sqs":
            count_completed(settings, run, len(results), total, invocation)
        return {"stored": key, "items": len(results)}


def handle_range(event: dict[str, Any], context: Any, settings: Settings) -> dict[str, Any]:
    """Process one inline Map iteration: read its lines of the items object, then store its results.

    The results object is named by the iteration's index, so a retried
    iteration overwrites its own object.
    """
    run = event["run"]
    with Invocation("worker", context, run) as invocation:
        items = read_items(settings, event["items_key"], event["range"], invocation)
        invocation.items = len(items)
        results = process(items, settings)

        key = store_results(settings, run, results, invocation, name=f"{event['index']:06d}")
        return {"stored": key, "items": len(results)}


def read_items(settings: Settings, key: str, byte_range: list[int], invocation: Invocation) -> list[dict[str, Any]]:
    """Read the books in `byte_range` ([offset, length]) of the JSON Lines object `key` with one ranged GET."""
    offset, length = byte_range
    if offset < 0 or length < 1:
        raise ValueError(
            f"byte range {byte_range} of s3://{settings.bucket}/{key} is invalid; expected [offset >= 0, length >= 1]"
        )

    # The Range header names the first and the last byte of the range, both included.
    # Source: Amazon S3 API reference, GetObject (Range, which follows RFC 9110).
    response = client("s3").get_object(Bucket=settings.bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}")
    body = response["Body"].read()
    invocation.count("s3_get")
    if len(body) != length or not body.endswith(b"\n"):
        raise ValueError(
            f"bytes {offset}-{offset + length - 1} of s3://{settings.bucket}/{key} are not whole JSON lines "
            f"({len(body)} bytes read); the ranges must come from the items object the orchestrator wrote "
            "for this execution, so run the repetition again"
        )

    # Split on the newline byte only, because str.splitlines would also split at U+2028 and
    # other line separators, which json.dumps leaves unescaped inside strings.
    return [json.loads(line) for line in body[:-1].split(b"\n")]


def unpack(event: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None, int | None]:
    """Return the books of a distributed Map or SQS event, its run context and the run's total number of books."""
    if "Records" in event:
        envelopes = [json.loads(record["body"]) for record in event["Records"]]
    elif "Items" in event:
        envelopes = list(event["Items"])
    else:
        envelopes = [event]
    if not envelopes:
        raise ValueError("the worker received no books")
    first = envelopes[0]
    return [envelope["item"] for envelope in envelopes], first["run"], first.get("total")


def service_time(item_id: int, settings: Settings) -> float:
    """Return the seconds the worker waits for one book: work_seconds times a lognormal factor of mean 1.

    The factor is drawn from a generator seeded by (seed, book id), so a book
    waits the same time in every variant and repetition of a run.
    """
    if settings.jitter == 0:
        return settings.work_seconds
    sigma = math.sqrt(math.log(1 + settings.jitter**2))
    rng = random.Random(f"{settings.seed}:{item_id}")
    return settings.work_seconds * rng.lognormvariate(-(sigma**2) / 2, sigma)


def process(items: list[dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """Enrich every book on `batch_threads` threads; each book then sleeps its service time."""

    def one(item: dict[str, Any]) -> dict[str, Any]:
        result = enrich_book(item)
        time.sleep(service_time(item["id"], settings))
        return result

    if settings.batch_threads <= 1 or len(items) <= 1:
        results = [one(item) for item in items]
    else:
        with ThreadPoolExecutor(max_workers=min(settings.batch_threads, len(items))) as pool:
            results = list(pool.map(one, items))
    return sorted(results, key=lambda result: result["id"])


def store_results(
    settings: Settings, run: dict[str, Any] | None, results: list[dict[str, Any]], invocation: Invocation, name: str
) -> str:
    """Write the results to <prefix>results/<name>.json in S3 and return the key."""
    if run is None:
        raise ValueError("the event has no run context, so the results have nowhere to go")
    key = f"{run['prefix']}results/{name}.json"
    client("s3").put_object(Bucket=settings.bucket, Key=key, Body=json.dumps(results, separators=(",", ":")))
    invocation.count("s3_put")
    return key


def count_completed(
    settings: Settings, run: dict[str, Any] | None, done: int, total: int | None, invocation: Invocation
) -> None:
    """Add `done` to the repetition's counter; start the aggregator if this update reached the total."""
    if run is None or total is None:
        raise ValueError("an SQS message lacks its run context or total")
    response = client("dynamodb").update_item(
        TableName=settings.table,
        Key={"pk": {"S": run["prefix"]}},
        UpdateExpression="ADD done :done SET expected = :total",
        ExpressionAttributeValues={":done": {"N": str(done)}, ":total": {"N": str(total)}},
        ReturnValues="UPDATED_NEW",
    )
    invocation.count("dynamodb_write")
    completed = int(response["Attributes"]["done"]["N"])

    # NOTE: SQS delivers at least once; a redelivered batch is counted twice, so the
    # aggregator can start early. It then fails with "found N of M results".
    if completed - done < total <= completed:
        payload = json.dumps({"run": run, "total": total}).encode("utf-8")
        client("lambda").invoke(FunctionName=settings.aggregator, InvocationType="Event", Payload=payload)
        invocation.count("lambda_invoke")
