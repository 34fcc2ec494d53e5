"""A fan-out's traces set up in moto for `bench diagnose` tests, with Stubber for what moto lacks.

moto 5.2.5 returns "Not yet implemented" for GetAccountSettings and
ListProvisionedConcurrencyConfigs, so botocore's Stubber returns the responses
of those two Lambda operations while every other call reaches moto.
"""

import io
import json
import math
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
from botocore.stub import Stubber

from bench.aws.diagnose_checks import DiagnoseClients

REGION = "us-east-1"
FUNCTION = "worker"
STUBBED_LAMBDA_OPERATIONS = ("GetAccountSettings", "ListProvisionedConcurrencyConfigs")
MOTO_CONFIG = {"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}}


class OperationStubber(Stubber):
    """A Stubber that stubs only the named operations and lets every other call through."""

    def __init__(self, client: Any, operations: tuple[str, ...]) -> None:
        super().__init__(client)
        self.operations = operations
        self.service = client.meta.service_model.service_id.hyphenize()

    def activate(self) -> None:
        for operation in self.operations:
            self.client.meta.events.register_first(
                f"before-parameter-build.{self.service}.{operation}",
                self._assert_expected_params,
                unique_id=f"{self._expected_params_event_id}-{operation}",
            )
            self.client.meta.events.register(
                f"before-call.{self.service}.{operation}",
                self._get_response_handler,
                unique_id=f"{self._event_id}-{operation}",
            )

    def deactivate(self) -> None:
        for operation in self.operations:
            self.client.meta.events.unregister(
                f"before-parameter-build.{self.service}.{operation}",
                unique_id=f"{self._expected_params_event_id}-{operation}",
            )
            self.client.meta.events.unregister(
                f"before-call.{self.service}.{operation}", unique_id=f"{self._event_id}-{operation}"
            )


def account_settings(limit: int, unreserved: int) -> dict[str, Any]:
    """Return a GetAccountSettings response with the given concurrency."""
    return {
        "AccountLimit": {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": limit,
            "UnreservedConcurrentExecutions": unreserved,
        },
        "AccountUsage": {"TotalCodeSize": 1024, "FunctionCount": 1},
    }


def waves(count: int, width: int, seconds: float) -> list[tuple[float, float]]:
    """Return (start, end) offsets of `count` equal invocations run `width` at a time."""
    return [((index // width) * seconds, (index // width + 1) * seconds) for index in range(count)]


def ramp(count: int, first: int, step: int, seconds: float) -> list[tuple[float, float]]:
    """Return (start, end) offsets of invocations in waves growing by `step`: first, first + step, ..."""
    spans: list[tuple[float, float]] = []
    width, wave = first, 0
    while len(spans) < count:
        for _ in range(min(width, count - len(spans))):
            spans.append((wave * seconds, (wave + 1) * seconds))
        width += step
        wave += 1
    return spans


@dataclass
class Scenario:
    """One fan-out's configuration and trace, as offsets in seconds from `base`."""

    spans: list[tuple[float, float]]
    account_limit: int = 400
    unreserved: int | None = None
    reserved: int | None = None
    sqs: bool = False
    esm_max_concurrency: int | None = None
    workflow_items: int = 0  # > 0: an inline Map state machine executed over that many items
    throttles_per_minute: float = 0.0
    init_ms: float = 120.5
    base: datetime = field(
        default_factory=lambda: datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=30)
    )

    @property
    def window(self) -> tuple[datetime, datetime]:
        """Return a window that covers the whole trace, with a minute on each side."""
        last = max(end for _, end in self.spans)
        return self.base - timedelta(minutes=1), self.base + timedelta(seconds=last + 60)


@dataclass
class Deployed:
    """The clients and ARNs of a scenario set up in moto."""

    clients: DiagnoseClients
    stubber: OperationStubber
    state_machine_arn: str | None = None
    execution_arn: str | None = None


def deploy(scenario: Scenario) -> Deployed:
    """Set up the scenario in the active moto mock and return clients that read it."""
    lambda_client = boto3.client("lambda", region_name=REGION)
    role = _role()
    lambda_client.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": _handler_zip()},
        MemorySize=1024,
    )
    if scenario.reserved is not None:
        lambda_client.put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=scenario.reserved)
    if scenario.sqs:
        _add_queue_trigger(lambda_client, scenario.esm_max_concurrency)

    _put_report_lines(scenario)
    _put_metrics(scenario)

    stubber = OperationStubber(lambda_client, STUBBED_LAMBDA_OPERATIONS)
    queue_lambda_responses(stubber, scenario)
    stubber.activate()

    clients = DiagnoseClients(
        cloudwatch=boto3.client("cloudwatch", region_name=REGION),
        lambda_=lambda_client,
        logs=boto3.client("logs", region_name=REGION),
        stepfunctions=boto3.client("stepfunctions", region_name=REGION),
    )
    deployed = Deployed(clients, stubber)
    if scenario.workflow_items:
        deployed.state_machine_arn, deployed.execution_arn = _run_inline_map(role, scenario.workflow_items)
    return deployed


def queue_lambda_responses(stubber: OperationStubber, scenario: Scenario) -> None:
    """Queue the stubbed Lambda responses that one diagnosis of the scenario reads."""
    unreserved = scenario.unreserved if scenario.unreserved is not None else scenario.account_limit
    # Stubber returns responses in queue order: diagnose reads the function's settings before the account's.
    stubber.add_response(
        "list_provisioned_concurrency_configs", {"ProvisionedConcurrencyConfigs": []}, {"FunctionName": FUNCTION}
    )
    stubber.add_response("get_account_settings", account_settings(scenario.account_limit, unreserved), {})


def _role() -> str:
    iam = boto3.client("iam", region_name=REGION)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return iam.create_role(RoleName="diagnose-test", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _handler_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _add_queue_trigger(lambda_client: Any, maximum_concurrency: int | None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="books")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    options: dict[str, Any] = {"EventSourceArn": queue_arn, "FunctionName": FUNCTION, "BatchSize": 1}
    if maximum_concurrency is not None:
        options["ScalingConfig"] = {"MaximumConcurrency": maximum_concurrency}
    lambda_client.create_event_source_mapping(**options)


def _environments(spans: list[tuple[float, float]]) -> list[int]:
    """Assign each invocation to an execution environment, reusing one that has finished."""
    free_at: list[float] = []
    assigned = []
    for start, end in spans:
        environment = next((index for index, busy_until in enumerate(free_at) if busy_until <= start), None)
        if environment is None:
            environment = len(free_at)
            free_at.append(end)
        free_at[environment] = end
        assigned.append(environment)
    return assigned


def _put_report_lines(scenario: Scenario) -> None:
    """Write START, END and REPORT events, one log stream per execution environment."""
    logs = boto3.client("logs", region_name=REGION)
    group = f"/aws/lambda/{FUNCTION}"
    logs.create_log_group(logGroupName=group)

    base_ms = int(scenario.base.timestamp() * 1000)
    streams: dict[int, list[dict[str, Any]]] = {}
    for (start, end), environment in zip(scenario.spans, _environments(scenario.spans)):
        events = streams.setdefault(environment, [])
        cold = not events
        request_id = str(uuid.uuid4())
        duration_ms = (end - start) * 1000
        init = f"Init Duration: {scenario.init_ms:.2f} ms\t" if cold else ""
        events.append({"timestamp": base_ms + round(start * 1000), "message": f"START RequestId: {request_id} Version: $LATEST\n"})
        events.append({"timestamp": base_ms + round(end * 1000), "message": f"END RequestId: {request_id}\n"})
        events.append(
            {
                "timestamp": base_ms + round(end * 1000),
                "message": f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
                f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: 1024 MB\tMax Memory Used: 61 MB\t{init}\n",
            }
        )

    day = scenario.base.strftime("%Y/%m/%d")
    for environment, events in streams.items():
        stream = f"{day}/[$LATEST]{environment:032x}"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def _put_metrics(scenario: Scenario) -> None:
    """Put ConcurrentExecutions (maximum in each minute) and Throttles data points."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    last = max(end for _, end in scenario.spans)
    dimensions = [{"Name": "FunctionName", "Value": FUNCTION}]
    data = []
    for minute in range(math.ceil(last / 60)):
        low, high = minute * 60.0, (minute + 1) * 60.0
        peak = max(_running(scenario.spans, moment) for moment in _changes(scenario.spans, low, high))
        moment = scenario.base + timedelta(minutes=minute)
        data.append({"MetricName": "ConcurrentExecutions", "Dimensions": dimensions, "Timestamp": moment,
                     "Value": float(peak), "Unit": "Count"})
        if scenario.throttles_per_minute:
            data.append({"MetricName": "Throttles", "Dimensions": dimensions, "Timestamp": moment,
                         "Value": scenario.throttles_per_minute, "Unit": "Count"})
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=data)


def _changes(spans: list[tuple[float, float]], low: float, high: float) -> list[float]:
    return [low] + [start for start, _ in spans if low <= start < high]


def _running(spans: list[tuple[float, float]], moment: float) -> int:
    return sum(1 for start, end in spans if start <= moment < end)


def _run_inline_map(role: str, items: int) -> tuple[str, str]:
    """Create an inline Map state machine, run it over `items` items in moto and wait for the end.

    The iterations run a Pass state, standing in for the worker task.
    """
    stepfunctions = boto3.client("stepfunctions", region_name=REGION)
    definition = {
        "StartAt": "Books",
        "States": {
            "Books": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 1000,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Enrich",
                    "States": {"Enrich": {"Type": "Pass", "End": True}},
                },
                "End": True,
            }
        },
    }
    machine = stepfunctions.create_state_machine(name="per-book", definition=json.dumps(definition), roleArn=role)
    payload = json.dumps({"items": [{"id": index} for index in range(1, items + 1)]})
    execution = stepfunctions.start_execution(stateMachineArn=machine["stateMachineArn"], name="run-1", input=payload)

    for _ in range(600):
        if stepfunctions.describe_execution(executionArn=execution["executionArn"])["status"] != "RUNNING":
            break
        time.sleep(0.02)
    return machine["stateMachineArn"], execution["executionArn"]
