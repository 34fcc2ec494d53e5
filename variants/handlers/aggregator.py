"""Lambda entry point of the aggregator: merge the per-book results and store the summary."""

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .aggregate import aggregate_digest, merge_results
from .lambda_io import Invocation, Settings, canonical_json, client

# Parallel S3 GETs when the results are spread over many objects (a design choice).
FETCH_THREADS = 16


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Merge the results of one repetition and write the summary to <prefix>summary.json.

    The event carries "run" and "total", plus "result_keys" (the key of each
    iteration's results object) from an inline Map. Without it the results
    are read from every object under <prefix>results/. Returns the summary's
    SHA-256 and key.
    """
    settings = Settings.from_environment()
    run, total = event["run"], event["total"]
    with Invocation("aggregator", context, run) as invocation:
        if "result_keys" in event:
            keys = list(event["result_keys"])
        else:
            keys = list_result_keys(settings, run["prefix"], invocation)
        results = fetch_results(settings, keys, invocation)
        invocation.items = len(results)
        if len(results) != total:
            raise RuntimeError(f"found {len(results)} of {total} book results under {run['prefix']}results/")

        summary = merge_results(results)
        digest = aggregate_digest(summary)
        key = f"{run['prefix']}summary.json"
        client("s3").put_object(Bucket=settings.bucket, Key=key, Body=canonical_json(summary))
        invocation.count("s3_put")
        if settings.fan_out == "sqs":
            record_digest(settings, run, digest, invocation)
        return {"sha256": digest, "summary_key": key, "books": summary["books"]}


def list_result_keys(settings: Settings, prefix: str, invocation: Invocation) -> list[str]:
    """Return the key of every results object under <prefix>results/."""
    keys = []
    paginator = client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings.bucket, Prefix=f"{prefix}results/"):
        invocation.count("s3_list")
        keys += [entry["Key"] for entry in page.get("Contents", [])]
    return keys


def fetch_results(settings: Settings, keys: list[str], invocation: Invocation) -> list[dict[str, Any]]:
    """Read the results objects `keys` on FETCH_THREADS threads, keeping one result per book id."""
    s3 = client("s3")

    def read(key: str) -> list[dict[str, Any]]:
        return json.loads(s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read())

    with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
        batches = list(pool.map(read, keys))
    invocation.count("s3_get", len(keys))

    # A redelivered message or a retried child can store a book twice; keep the first copy.
    unique: dict[int, dict[str, Any]] = {}
    for batch in batches:
        for result in batch:
            unique.setdefault(result["id"], result)
    return list(unique.values())


def record_digest(settings: Settings, run: dict[str, Any], digest: str, invocation: Invocation) -> None:
    """Mark the repetition finished on its DynamoDB counter, which the harness polls."""
    client("dynamodb").update_item(
        TableName=settings.table,
        Key={"pk": {"S": run["prefix"]}},
        UpdateExpression="SET digest = :digest",
        ExpressionAttributeValues={":digest": {"S": digest}},
    )
    invocation.count("dynamodb_write")
