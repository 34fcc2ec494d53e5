"""The read-only AWS queries behind `bench diagnose`: metrics, account, function and logs.

Every function takes the boto3 client it needs, so tests pass moto-backed or
Stubber-wrapped clients. AWS errors become BenchError subclasses whose message
names the fix: a missing permission names the IAM action to grant.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from bench.aws.reports import ConcurrencyProfile, EventScan, concurrency_profile, scan_log_events
from bench.errors import AwsBackendError

logger = logging.getLogger(__name__)

# Adaptive mode is standard mode (retries with backoff for throttling and
# transient errors) plus client-side rate limiting. Source: Boto3 documentation,
# "Retries" guide, which calls adaptive mode experimental.
RETRY_CONFIG = {"mode": "adaptive", "max_attempts": 10}

# IAM action prefix of each service, keyed by botocore's service id in lower case.
IAM_PREFIXES = {"lambda": "lambda", "cloudwatch": "cloudwatch", "cloudwatch logs": "logs", "sfn": "states"}

ACCESS_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"}
THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ThrottledException",
}
NOT_FOUND_CODES = {"ResourceNotFoundException", "StateMachineDoesNotExist", "ExecutionDoesNotExist"}

# CloudWatch returns at most 1,440 data points per GetMetricStatistics call.
# Source: Amazon CloudWatch API reference, GetMetricStatistics.
MAX_DATAPOINTS = 1440
METRIC_PERIOD_S = 60

# A REPORT line is written when an invocation ends, up to the 15-minute Lambda
# timeout after it started. Source: AWS Lambda developer guide, Lambda quotas.
MAX_FUNCTION_DURATION_S = 900

T = TypeVar("T")


class MissingPermissionError(AwsBackendError):
    """The credentials lack an IAM permission a check needs."""

    def __init__(self, action: str, detail: str) -> None:
        super().__init__(f"access denied for {action}: {detail}; grant {action} to the credentials you use")
        self.action = action


class ResourceNotFoundError(AwsBackendError):
    """A function, log group, state machine or execution does not exist."""


@dataclass
class DiagnoseClients:
    """The four boto3 clients `bench diagnose` reads from."""

    cloudwatch: Any
    lambda_: Any
    logs: Any
    stepfunctions: Any


def build_clients(region: str | None, profile: str | None, endpoint_url: str | None) -> tuple[DiagnoseClients, str]:
    """Build the clients from one boto3 session and return them with the Region they use."""
    from botocore.config import Config

    from bench.aws.clients import connect

    connection = connect(region, profile, endpoint_url)
    session, chosen = connection.session, connection.region

    config = Config(retries=dict(RETRY_CONFIG), user_agent_extra="fanout-bench-diagnose")

    def client(service: str) -> Any:
        return session.client(service, region_name=chosen, endpoint_url=endpoint_url, config=config)

    clients = DiagnoseClients(client("cloudwatch"), client("lambda"), client("logs"), client("stepfunctions"))
    return clients, chosen


def iam_action(client: Any, operation: str) -> str:
    """Return the IAM action for `operation` on `client`'s service, e.g. "lambda:GetAccountSettings"."""
    service_id = client.meta.service_model.service_id.lower()
    prefix = IAM_PREFIXES.get(service_id, service_id.replace(" ", ""))
    return f"{prefix}:{operation}"


@contextmanager
def aws_errors(client: Any, activity: str) -> Iterator[None]:
    """Turn botocore errors raised while doing `activity` into BenchErrors that name the fix."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except ClientError as error:
        raise _client_error(client, activity, error) from None
    except NoCredentialsError:
        raise AwsBackendError(
            f"no AWS credentials found while {activity}; configure them (aws configure) or pass --profile"
        ) from None
    except BotoCoreError as error:
        raise AwsBackendError(f"{activity} failed: {error}") from None


def _client_error(client: Any, activity: str, error: Any) -> AwsBackendError:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    operation = getattr(error, "operation_name", None) or "an API call"
    if code in ACCESS_DENIED_CODES:
        return MissingPermissionError(iam_action(client, operation), f"{activity} ({code})")
    if code in THROTTLING_CODES:
        attempts = RETRY_CONFIG["max_attempts"]
        return AwsBackendError(f"{activity}: {operation} was still throttled after {attempts} attempts; try again later")
    if code in NOT_FOUND_CODES:
        return ResourceNotFoundError(f"{activity}: not found ({message or code}); check the name or ARN and --region")
    return AwsBackendError(f"{activity}: {operation} failed with {code}: {message}")


def paginate(client: Any, operation: str, result_key: str, **parameters: Any) -> Iterator[dict[str, Any]]:
    """Yield every element of `result_key` over all pages of `operation`."""
    paginator = client.get_paginator(operation)
    for page in paginator.paginate(**parameters):
        yield from page.get(result_key, [])


@dataclass
class MetricCheck:
    """CloudWatch ConcurrentExecutions (Maximum) and Throttles (Sum) per minute."""

    concurrency: list[tuple[datetime, float]]
    throttles: float
    note: str = (
        "ConcurrentExecutions has one-minute granularity here, so a peak shorter than a minute is understated"
    )

    @property
    def peak(self) -> float | None:
        """Return the highest per-minute maximum, None without data points."""
        return max((value for _, value in self.concurrency), default=None)

    def to_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return {
            "concurrency": [{"time": moment.isoformat(), "maximum": value} for moment, value in self.concurrency],
            "peak": self.peak,
            "throttles": self.throttles,
            "note": self.note,
        }


def check_metrics(cloudwatch: Any, function: str, start: datetime, end: datetime) -> MetricCheck:
    """Read the function's ConcurrentExecutions maximum and Throttles sum per 60 s over the window."""
    concurrency = _metric_points(cloudwatch, function, "ConcurrentExecutions", "Maximum", start, end)
    throttles = _metric_points(cloudwatch, function, "Throttles", "Sum", start, end)
    return MetricCheck(concurrency=concurrency, throttles=sum(value for _, value in throttles))


def _metric_points(
    cloudwatch: Any, function: str, metric: str, statistic: str, start: datetime, end: datetime
) -> list[tuple[datetime, float]]:
    points: list[tuple[datetime, float]] = []
    chunk = timedelta(seconds=METRIC_PERIOD_S * MAX_DATAPOINTS)
    chunk_start = _floor_minute(start)

    while chunk_start < end:
        chunk_end = min(chunk_start + chunk, _ceil_minute(end))
        with aws_errors(cloudwatch, f"reading the {metric} metric of {function}"):
            response = cloudwatch.get_metric_statistics(
                Namespace="AWS/Lambda",
                MetricName=metric,
                Dimensions=[{"Name": "FunctionName", "Value": function}],
                StartTime=chunk_start,
                EndTime=chunk_end,
                Period=METRIC_PERIOD_S,
                Statistics=[statistic],
            )
        points.extend((point["Timestamp"], float(point[statistic])) for point in response["Datapoints"])
        chunk_start = chunk_end
    return sorted(points)


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _ceil_minute(moment: datetime) -> datetime:
    floored = _floor_minute(moment)
    return floored if floored == moment else floored + timedelta(minutes=1)


@dataclass
class AccountCheck:
    """The account's Lambda concurrency in the Region (GetAccountSettings)."""

    limit: int
    unreserved: int

    def to_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return {"limit": self.limit, "unreserved": self.unreserved}


def check_account(lambda_client: Any) -> AccountCheck:
    """Read the account's concurrent-executions limit and its unreserved part."""
    with aws_errors(lambda_client, "reading the account's Lambda settings"):
        limits = lambda_client.get_account_settings()["AccountLimit"]
    return AccountCheck(limit=limits["ConcurrentExecutions"], unreserved=limits["UnreservedConcurrentExecutions"])


@dataclass
class FunctionCheck:
    """The function's concurrency settings, event sources and where it logs."""

    reserved: int | None
    provisioned: list[dict[str, Any]]
    event_sources: list[dict[str, Any]]
    log_group: str
    log_format: str  # "Text" or "JSON"
    memory_mb: int | None
    problems: list[str] = field(default_factory=list)

    @property
    def sqs_sources(self) -> list[dict[str, Any]]:
        """Return the SQS event source mappings."""
        return [source for source in self.event_sources if ":sqs:" in (source.get("arn") or "")]

    def to_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return {
            "reserved": self.reserved,
            "provisioned": self.provisioned,
            "event_sources": self.event_sources,
            "log_group": self.log_group,
            "log_format": self.log_format,
            "memory_mb": self.memory_mb,
        }


def check_function(lambda_client: Any, function: str) -> FunctionCheck:
    """Read the function's reserved and provisioned concurrency, event sources and log settings.

    The function must exist. A missing permission for the provisioned
    concurrency or event source listing is recorded in `problems` and the
    rest of the check goes on.
    """
    with aws_errors(lambda_client, f"reading the configuration of function {function}"):
        configuration = lambda_client.get_function_configuration(FunctionName=function)
    logging_config = configuration.get("LoggingConfig") or {}

    with aws_errors(lambda_client, f"reading the reserved concurrency of {function}"):
        reserved = lambda_client.get_function_concurrency(FunctionName=function).get("ReservedConcurrentExecutions")

    check = FunctionCheck(
        reserved=reserved,
        provisioned=[],
        event_sources=[],
        log_group=logging_config.get("LogGroup") or f"/aws/lambda/{function}",
        log_format=logging_config.get("LogFormat") or "Text",
        memory_mb=configuration.get("MemorySize"),
    )
    check.provisioned = skip_if_denied(check.problems, lambda: _provisioned_configs(lambda_client, function), [])
    check.event_sources = skip_if_denied(check.problems, lambda: _event_sources(lambda_client, function), [])
    return check


def skip_if_denied(problems: list[str], read: Callable[[], T], default: T) -> T:
    """Return `read()`, or `default` after logging and recording the message when a permission is missing."""
    try:
        return read()
    except MissingPermissionError as error:
        logger.warning("%s", error)
        problems.append(str(error))
        return default


def _provisioned_configs(lambda_client: Any, function: str) -> list[dict[str, Any]]:
    with aws_errors(lambda_client, f"listing the provisioned concurrency of {function}"):
        configs = list(
            paginate(lambda_client, "list_provisioned_concurrency_configs", "ProvisionedConcurrencyConfigs",
                     FunctionName=function)
        )
    return [
        {
            "qualifier": (config.get("FunctionArn") or "").rsplit(":", 1)[-1],
            "requested": config.get("RequestedProvisionedConcurrentExecutions"),
            "allocated": config.get("AllocatedProvisionedConcurrentExecutions"),
            "status": config.get("Status"),
        }
        for config in configs
    ]


def _event_sources(lambda_client: Any, function: str) -> list[dict[str, Any]]:
    with aws_errors(lambda_client, f"listing the event source mappings of {function}"):
        mappings = list(paginate(lambda_client, "list_event_source_mappings", "EventSourceMappings",
                                 FunctionName=function))
    return [
        {
            "arn": mapping.get("EventSourceArn"),
            "state": mapping.get("State"),
            "batch_size": mapping.get("BatchSize"),
            "maximum_concurrency": (mapping.get("ScalingConfig") or {}).get("MaximumConcurrency"),
        }
        for mapping in mappings
    ]


@dataclass
class LogCheck:
    """Invocations rebuilt from the REPORT lines of the function's log group."""

    log_group: str
    events_read: int
    scan: EventScan
    profile: ConcurrencyProfile
    found: bool = True  # False when the log group does not exist

    def to_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return {
            "log_group": self.log_group,
            "found": self.found,
            "events_read": self.events_read,
            "invocations": len(self.scan.invocations),
            "init_failures": len(self.scan.init_failures),
            "skipped": dict(self.scan.skipped),
            "problems": list(self.scan.problems),
            "profile": self.profile.to_dict(),
        }


def check_logs(logs_client: Any, log_group: str, log_format: str, start: datetime, end: datetime) -> LogCheck:
    """Read the REPORT lines of invocations that ran in the window and rebuild their concurrency.

    REPORT lines are written when invocations end, so the query runs up to
    15 minutes past `end`. Invocations that started at or after `end`, or
    ended before `start`, are dropped.
    """
    pattern = '"platform.report"' if log_format.upper() == "JSON" else '"REPORT RequestId"'
    query_end = end + timedelta(seconds=MAX_FUNCTION_DURATION_S)
    events: list[dict[str, Any]] = []

    try:
        with aws_errors(logs_client, f"reading REPORT lines from log group {log_group}"):
            events = list(
                paginate(logs_client, "filter_log_events", "events", logGroupName=log_group,
                         startTime=_epoch_ms(start), endTime=_epoch_ms(query_end), filterPattern=pattern)
            )
    except ResourceNotFoundError:
        logger.warning("log group %s not found; the function has not logged in this Region", log_group)
        return LogCheck(log_group, 0, EventScan(), concurrency_profile([]), found=False)

    scan = scan_log_events(events)
    window_start, window_end = start.timestamp(), end.timestamp()
    scan.invocations = [
        record for record in scan.invocations if record["start"] < window_end and record["end"] > window_start
    ]
    return LogCheck(log_group, len(events), scan, concurrency_profile(scan.invocations))


def _epoch_ms(moment: datetime) -> int:
    return int(moment.astimezone(timezone.utc).timestamp() * 1000)
