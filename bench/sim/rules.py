"""The AWS scaling rules and service latencies the simulator follows, one field each.

Every field carries its unit, a one-line meaning and its source in the field's
metadata, so `bench rules` can list them and a result file records the exact
values that produced it. Values marked "estimate" are not AWS quotas but
typical measured latencies; override them with `--set NAME=VALUE`.
"""

import functools
import importlib.util
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bench.errors import InputError

SFN_QUOTAS = "AWS Step Functions developer guide, service quotas"
LAMBDA_SCALING = "AWS Lambda developer guide, Lambda scaling behavior"
SQS_SCALING = "AWS Lambda developer guide, configuring scaling behavior for SQS event source mappings"
ESTIMATE = "estimate: typical in-Region latency, not an AWS quota"

# Regions with the larger Step Functions state-transition and StartExecution buckets.
# Source: AWS Step Functions developer guide, service quotas (quotas related to state throttling).
LARGE_QUOTA_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")


def rule(default: Any, unit: str, meaning: str, source: str) -> Any:
    """Declare one rule: its default, unit, meaning and source."""
    return field(default=default, metadata={"unit": unit, "help": meaning, "source": source})


@dataclass(frozen=True)
class AwsRules:
    """The parameters of the AWS model, with the documented defaults."""

    region: str = rule("us-east-1", "", "Region whose quotas apply", "bench run --region")

    # Lambda
    account_concurrency: int = rule(
        1000, "environments", "Concurrent executions the account allows in the Region", LAMBDA_SCALING
    )
    scaling_burst: int = rule(
        1000, "environments", "New execution environments a function can add at once", LAMBDA_SCALING
    )
    scaling_refill_per_s: float = rule(
        100.0, "environments/s", "Refill of the per-function scaling budget (1,000 per 10 s)", LAMBDA_SCALING
    )
    worker_init_s: float = rule(
        0.1, "s", "Init (cold start) of the stdlib-only worker, 70-110 ms for a small Python zip",
        "AWS Lambda developer guide, execution environment lifecycle; estimate",
    )
    boto3_init_s: float = rule(
        0.3, "s", "Init of the orchestrator and aggregator, which import boto3", ESTIMATE
    )
    invoke_latency_s: float = rule(0.02, "s", "Lambda Invoke request overhead", ESTIMATE)

    # Step Functions
    inline_map_max_concurrency: int = rule(
        40, "iterations", "Inline Map iterations that run at once",
        "AWS Step Functions developer guide, Inline Map state",
    )
    history_event_limit: int = rule(25000, "events", "Events one execution history can hold", SFN_QUOTAS)
    payload_limit_bytes: int = rule(262144, "bytes", "Maximum state input or output size (256 KiB)", SFN_QUOTAS)
    transition_bucket: int = rule(5000, "transitions", "State-transition token bucket size", SFN_QUOTAS)
    transition_refill_per_s: float = rule(5000.0, "transitions/s", "State-transition bucket refill", SFN_QUOTAS)
    start_execution_bucket: int = rule(1300, "calls", "StartExecution token bucket size", SFN_QUOTAS)
    start_execution_refill_per_s: float = rule(300.0, "calls/s", "StartExecution bucket refill", SFN_QUOTAS)
    transition_latency_s: float = rule(0.01, "s", "Time Step Functions takes to move between states", ESTIMATE)
    start_execution_latency_s: float = rule(0.05, "s", "StartExecution request latency", ESTIMATE)

    # Distributed Map
    distributed_max_children: int = rule(
        10000, "executions", "Child workflow executions a distributed Map runs at once", SFN_QUOTAS
    )
    express_child_start_rate: float = rule(
        1000.0, "executions/s", "Start rate of Express child executions of a Map Run", SFN_QUOTAS
    )
    map_run_setup_s: float = rule(
        2.0, "s", "Map Run setup before the first child starts",
        "community measurement; estimate, varies by account and Region",
    )
    map_run_teardown_s: float = rule(
        1.0, "s", "Map Run completion after the last child ends",
        "community measurement; estimate, varies by account and Region",
    )

    # SQS event source mapping
    esm_initial_concurrency: int = rule(5, "invocations", "Concurrent batches when messages arrive", SQS_SCALING)
    esm_scale_per_minute: int = rule(300, "invocations/min", "Concurrency the ESM adds per minute", SQS_SCALING)
    esm_max_concurrency: int = rule(1000, "invocations", "Concurrent batches one ESM processes at most", SQS_SCALING)
    esm_poll_latency_s: float = rule(0.02, "s", "ReceiveMessage latency of an ESM poller", ESTIMATE)
    esm_throttle_backoff_s: float = rule(1.0, "s", "Wait of an ESM poller after a throttled invoke", ESTIMATE)
    sqs_send_batch_latency_s: float = rule(0.02, "s", "SendMessageBatch latency (10 messages)", ESTIMATE)

    # S3, DynamoDB and the handlers' own work
    s3_get_latency_s: float = rule(0.03, "s", "S3 GetObject latency", ESTIMATE)
    s3_put_latency_s: float = rule(0.05, "s", "S3 PutObject latency", ESTIMATE)
    dynamodb_update_latency_s: float = rule(0.01, "s", "DynamoDB UpdateItem latency", ESTIMATE)
    parse_s_per_row: float = rule(5e-5, "s/row", "Orchestrator CSV parsing time per row", ESTIMATE)
    merge_s_per_result: float = rule(2e-5, "s/result", "Aggregator merge time per book result", ESTIMATE)

    @classmethod
    def for_region(cls, region: str) -> "AwsRules":
        """Return the defaults for `region`, with its Step Functions bucket sizes."""
        check_region(region)
        if region in LARGE_QUOTA_REGIONS:
            return cls(region=region)
        return cls(
            region=region,
            transition_bucket=800,
            transition_refill_per_s=800.0,
            start_execution_bucket=800,
            start_execution_refill_per_s=150.0,
        )

    def with_overrides(self, overrides: dict[str, Any]) -> "AwsRules":
        """Return a copy with `overrides` applied; raise InputError on an unknown name or bad value."""
        known = {item.name: item for item in fields(self)}
        changes: dict[str, Any] = {}
        for name, value in overrides.items():
            if name == "region":
                raise InputError("the Region is not a rule; use --region NAME, which also selects its quotas")
            if name not in known:
                raise InputError(f"unknown rule {name!r}; run `bench rules` to list the rule names")
            changes[name] = _coerce(name, value, type(getattr(self, name)))
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the rules as JSON-ready data."""
        return asdict(self)


def check_region(region: str) -> None:
    """Raise InputError unless botocore's endpoint data lists Step Functions in `region`."""
    if region not in step_functions_regions():
        raise InputError(
            f"--region {region!r} is not a Region where Step Functions runs; for example us-east-1 or eu-west-1"
        )


@functools.cache
def step_functions_regions() -> frozenset[str]:
    """Return every Region of every partition in botocore's endpoint data for Step Functions.

    The file is read directly because importing botocore.session costs about 0.3 s.
    """
    spec = importlib.util.find_spec("botocore")
    if spec is None or spec.origin is None:
        return frozenset(LARGE_QUOTA_REGIONS)
    endpoints = json.loads((Path(spec.origin).parent / "data" / "endpoints.json").read_text(encoding="utf-8"))
    regions = set()
    for partition in endpoints["partitions"]:
        names = partition["services"].get("states", {}).get("endpoints", {})
        regions.update(name for name in names if "fips" not in name)
    return frozenset(regions)


def describe_rules(rules: AwsRules) -> list[dict[str, Any]]:
    """Return one row per rule: name, value, unit, meaning and source."""
    return [
        {"name": item.name, "value": getattr(rules, item.name), **item.metadata}
        for item in fields(rules)
    ]


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    """Parse NAME=VALUE strings from `--set` into a dict."""
    parsed: dict[str, str] = {}
    for assignment in assignments:
        name, separator, value = assignment.partition("=")
        if not separator or not name.strip():
            raise InputError(f"--set {assignment!r}: expected NAME=VALUE, for example --set worker_init_s=0.5")
        parsed[name.strip().replace("-", "_")] = value.strip()
    return parsed


def load_rules_file(path: Path) -> dict[str, Any]:
    """Read a JSON profile of rule overrides ({"name": value, ...})."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"{path}: cannot read rules file: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path} line {error.lineno}: invalid JSON ({error.msg}); expected {{\"rule_name\": value}}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object of rule overrides, found {type(data).__name__}")
    return data


def _coerce(name: str, value: Any, expected: type) -> Any:
    try:
        coerced = expected(value)
    except (TypeError, ValueError):
        raise InputError(f"rule {name} is {value!r}; expected a {expected.__name__}") from None
    if isinstance(coerced, (int, float)) and coerced < 0:
        raise InputError(f"rule {name} is {value!r}; expected 0 or more")
    return coerced
