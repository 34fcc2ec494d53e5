"""A test-only Lambda runtime for moto: runs the deployed zip's handler in-process and writes its logs.

moto's Lambda without Docker (mock_aws config {"lambda": {"use_docker":
False}}) handles every Invoke in LambdaSimpleBackend.invoke, which echoes
the payload. The `lambda_runtime` fixture replaces that method for the test,
so each Invoke, whether from boto3, Step Functions or the SQS event source
mapping, unzips the code the backend deployed and calls its handler. Each
execution environment is a separate import of the deployed package, so module
state, cold starts and environment ids behave as on Lambda. The runtime writes
START, the handler's timing line, END and REPORT to the function's log group
in moto's CloudWatch Logs, as Lambda does.
"""

import importlib
import importlib.util
import io
import itertools
import json
import logging
import math
import os
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend

from bench.aws.clients import AwsClients
from bench.aws.naming import ALIAS_NAME

MOTO_CONFIG = {"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}}
TIMING_LOGGER = "fanout_bench.timing"
REGION = "us-east-1"

FailurePredicate = Callable[[str, dict[str, Any]], bool]


@dataclass
class Environment:
    """One execution environment: the deployed package imported under its own name."""

    number: int
    function: str
    module: ModuleType
    init_ms: float
    provisioned: bool
    stream: str
    invocations: int = 0


@dataclass
class InvocationLog:
    """One invocation the runtime ran, for assertions."""

    function: str
    qualifier: str | None
    request_id: str
    event: Any
    environment: int
    cold: bool
    provisioned: bool
    error: str | None


@dataclass
class LambdaRuntime:
    """Runs deployed handlers in-process; see the module docstring."""

    # (function role, alias) -> provisioned environments, e.g. {("worker", "live"): 3}
    provisioned: dict[tuple[str, str], int] = field(default_factory=dict)
    invocations: list[InvocationLog] = field(default_factory=list)
    failures: list[FailurePredicate] = field(default_factory=list)
    drop_logs: set[str] = field(default_factory=set)  # roles whose log events are lost
    _idle: dict[tuple[str, str, bool], list[Environment]] = field(default_factory=dict)
    _numbers: Iterator[int] = field(default_factory=itertools.count)
    _code_dirs: dict[str, Path] = field(default_factory=dict)
    _lines: dict[str, list[str]] = field(default_factory=dict)
    _allocated: set[tuple[str, str]] = field(default_factory=set)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _temp: tempfile.TemporaryDirectory | None = None

    def fail_when(self, predicate: FailurePredicate) -> None:
        """Make invocations for which predicate(function role, event) is true raise RuntimeError."""
        self.failures.append(predicate)

    def invocations_of(self, role: str) -> list[InvocationLog]:
        """Return the invocations of the functions whose names end in "-<role>"."""
        return [record for record in self.invocations if record.function.endswith(f"-{role}")]

    # Invoke

    def invoke(self, backend: Any, function_name: str, qualifier: str | None, body: Any) -> tuple[bytes, bool]:
        """Run one invocation; return the response payload and whether the handler raised."""
        function = backend.get_function(function_name, qualifier)
        qualifier = qualifier or _qualifier_of(function_name)
        event = json.loads(body) if body else {}
        request_id = str(uuid.uuid4())
        environment, cold = self._acquire(function, qualifier)

        started = time.time()
        start_clock = time.perf_counter()
        self._lines[request_id] = []
        payload, error = self._run_handler(function, environment, event, request_id)
        duration_ms = (time.perf_counter() - start_clock) * 1000
        self._release(function, environment)

        self._write_logs(function, environment, request_id, started, duration_ms, cold, error)
        with self._lock:
            self.invocations.append(
                InvocationLog(
                    function.function_name, qualifier, request_id, event, environment.number, cold,
                    environment.provisioned, error,
                )
            )
        return payload, error is not None

    def _run_handler(
        self, function: Any, environment: Environment, event: Any, request_id: str
    ) -> tuple[bytes, str | None]:
        module_name, handler_name = function.handler.rsplit(".", 1)
        handler = getattr(environment.module, handler_name)
        context = SimpleNamespace(
            aws_request_id=request_id,
            function_name=function.function_name,
            memory_limit_in_mb=function.memory_size,
            invoked_function_arn=function.function_arn,
            log_group_name=function.logs_group_name,
            log_stream_name=environment.stream,
        )
        with self._lock:
            os.environ.update(function.environment_vars)
        try:
            role = function.function_name.rsplit("-", 1)[-1]
            if any(predicate(role, event) for predicate in self.failures):
                raise RuntimeError(f"injected failure in {function.function_name}")
            result = handler(event, context)
        except Exception as error:  # noqa: BLE001 - a handler error is the invocation's result, as on Lambda
            report = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            self._lines[request_id].append(f"[ERROR] {type(error).__name__}: {error}")
            return json.dumps(report).encode("utf-8"), f"{type(error).__name__}: {error}"
        return json.dumps(result).encode("utf-8"), None

    # Execution environments

    def _acquire(self, function: Any, qualifier: str | None) -> tuple[Environment, bool]:
        name = function.function_name
        role = name.rsplit("-", 1)[-1]
        with self._lock:
            count = self.provisioned.get((role, qualifier or ""), 0)
            provisioned_pool = self._idle.setdefault((name, function.code_sha_256, True), [])
            # Provisioned environments are initialized before the first invocation, all at once.
            if count and (name, qualifier or "") not in self._allocated:
                self._allocated.add((name, qualifier or ""))
                provisioned_pool.extend(self._new_environment(function, provisioned=True) for _ in range(count))
            if count and provisioned_pool:
                return provisioned_pool.pop(), False

            pool = self._idle.setdefault((name, function.code_sha_256, False), [])
            if pool:
                return pool.pop(), False
            return self._new_environment(function, provisioned=False), True

    def _release(self, function: Any, environment: Environment) -> None:
        with self._lock:
            key = (function.function_name, function.code_sha_256, environment.provisioned)
            self._idle.setdefault(key, []).append(environment)

    def _new_environment(self, function: Any, provisioned: bool) -> Environment:
        """Import the deployed package afresh under a unique name and time the import (the init)."""
        number = next(self._numbers)
        alias = f"_lambda_environment_{number}"
        package_root, handler_module = _split_handler(function.handler)
        code_dir = self._extract(function)

        variables = {
            **function.environment_vars,
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency" if provisioned else "on-demand",
        }
        start = time.perf_counter()
        with _environment_variables(variables):
            root = code_dir / package_root
            spec = importlib.util.spec_from_file_location(
                alias, root / "__init__.py", submodule_search_locations=[str(root)]
            )
            assert spec is not None and spec.loader is not None
            package = importlib.util.module_from_spec(spec)
            sys.modules[alias] = package
            spec.loader.exec_module(package)
            module = importlib.import_module(f"{alias}.{handler_module}")
        init_ms = (time.perf_counter() - start) * 1000

        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        return Environment(number, function.function_name, module, init_ms, provisioned, stream)

    def _extract(self, function: Any) -> Path:
        if function.code_sha_256 not in self._code_dirs:
            if self._temp is None:
                self._temp = tempfile.TemporaryDirectory(prefix="lambda-runtime-")
            target = Path(self._temp.name) / f"code-{len(self._code_dirs)}"
            with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
                archive.extractall(target)
            self._code_dirs[function.code_sha_256] = target
        return self._code_dirs[function.code_sha_256]

    # Logs

    def capture(self, record: logging.LogRecord) -> None:
        """Route a timing-line log record to the invocation whose request id it names."""
        message = record.getMessage()
        try:
            request_id = json.loads(message).get("request_id")
        except (json.JSONDecodeError, AttributeError):
            return
        if request_id in self._lines:
            self._lines[request_id].append(message)

    def _write_logs(
        self,
        function: Any,
        environment: Environment,
        request_id: str,
        started: float,
        duration_ms: float,
        cold: bool,
        error: str | None,
    ) -> None:
        ended_ms = int((started + duration_ms / 1000) * 1000)
        init_ms = environment.init_ms if cold else 0.0
        billed_ms = math.ceil(duration_ms + init_ms)
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed_ms} ms\t"
            f"Memory Size: {function.memory_size} MB\tMax Memory Used: 48 MB\t"
        )
        if cold:
            report += f"Init Duration: {init_ms:.2f} ms\t"
        if error:
            report += "Status: error\tError Type: Runtime.Unhandled"
        events = [{"timestamp": int(started * 1000), "message": f"START RequestId: {request_id} Version: $LATEST"}]
        events += [{"timestamp": int(started * 1000), "message": line} for line in self._lines.pop(request_id, [])]
        events += [
            {"timestamp": ended_ms, "message": f"END RequestId: {request_id}"},
            {"timestamp": ended_ms, "message": report},
        ]
        if function.function_name.rsplit("-", 1)[-1] not in self.drop_logs:
            self._put_events(function.logs_group_name, environment, events)

    def _put_events(self, group: str, environment: Environment, events: list[dict[str, Any]]) -> None:
        """Write to the function's log group; like Lambda without logs:CreateLogGroup, drop logs when it is missing.

        The calls hold the runtime's lock because moto's CloudWatch Logs is not
        thread-safe: DescribeLogGroups iterates a group's streams, and raises
        "dictionary changed size during iteration" when another invocation
        creates a stream at the same time. A group deleted by a teardown while
        a failed execution's last iterations still run counts as missing.
        """
        logs = boto3.client("logs", region_name=REGION)
        with self._lock:
            try:
                if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
                    return
                streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=environment.stream)
                if not streams["logStreams"]:
                    logs.create_log_stream(logGroupName=group, logStreamName=environment.stream)
                logs.put_log_events(logGroupName=group, logStreamName=environment.stream, logEvents=events)
            except logs.exceptions.ResourceNotFoundException:
                return

    def close(self) -> None:
        """Forget the imported environments and delete the extracted code."""
        for name in [name for name in sys.modules if name.startswith("_lambda_environment_")]:
            del sys.modules[name]
        if self._temp is not None:
            self._temp.cleanup()


def _qualifier_of(function_name: str) -> str | None:
    """Return the qualifier of a qualified function ARN (arn:aws:lambda:r:a:function:name:qualifier)."""
    parts = function_name.split(":")
    return parts[7] if len(parts) == 8 else None


def _split_handler(handler: str) -> tuple[str, str]:
    """Split "variants.handlers.worker.handler" into ("variants", "handlers.worker")."""
    module_path = handler.rsplit(".", 1)[0]
    root, _, rest = module_path.partition(".")
    return root, rest


class _environment_variables:
    """Set environment variables for the duration of a block (an import), then restore them."""

    _lock = threading.RLock()

    def __init__(self, variables: dict[str, str]) -> None:
        self.variables = variables
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        self._lock.acquire()
        self.saved = {name: os.environ.get(name) for name in self.variables}
        os.environ.update(self.variables)

    def __exit__(self, *exc_info: object) -> None:
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._lock.release()


class _CaptureHandler(logging.Handler):
    def __init__(self, runtime: LambdaRuntime) -> None:
        super().__init__(level=logging.INFO)
        self.runtime = runtime

    def emit(self, record: logging.LogRecord) -> None:
        self.runtime.capture(record)


@pytest.fixture
def lambda_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaRuntime]:
    """Start moto with Step Functions execution on, and run deployed Lambda handlers in-process."""
    runtime = LambdaRuntime()

    def invoke(
        backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        payload, failed = runtime.invoke(backend, function_name, qualifier, body)
        if failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    for name in list(os.environ):
        if name.startswith("FANOUT_"):
            monkeypatch.delenv(name)
    # Each new environment sets these two variables for its import, then restores them.
    # They exist for the whole test, so restoring never deletes a variable. A deletion
    # while another thread copies os.environ (botocore does) raises KeyError in that thread.
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "")
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    capture = _CaptureHandler(runtime)
    timing_logger = logging.getLogger(TIMING_LOGGER)
    timing_logger.addHandler(capture)

    with mock_aws(config=MOTO_CONFIG):
        try:
            yield runtime
        finally:
            timing_logger.removeHandler(capture)
            for name in list(os.environ):
                if name.startswith("FANOUT_"):
                    del os.environ[name]
            runtime.close()


# Clients for the backend under test


def moto_clients(region: str = REGION) -> tuple[AwsClients, list[dict[str, Any]]]:
    """Return backend clients on a fresh session, and the state machine definitions it sends.

    NOTE: moto 5.2.5's ASL grammar accepts only "STANDARD" as a distributed
    Map's ExecutionType, so this session rewrites "EXPRESS" to "STANDARD" on
    its way to moto. The list keeps each definition as the backend sent it,
    EXPRESS included, for assertions.
    """
    session = boto3.Session(region_name=region)
    sent: list[dict[str, Any]] = []

    def downgrade_express(params: dict[str, Any], **kwargs: Any) -> None:
        definition = json.loads(params["definition"])
        sent.append(json.loads(params["definition"]))
        for state in definition["States"].values():
            config = state.get("ItemProcessor", {}).get("ProcessorConfig", {})
            if config.get("ExecutionType") == "EXPRESS":
                config["ExecutionType"] = "STANDARD"
        params["definition"] = json.dumps(definition)

    session.events.register("provide-client-params.stepfunctions.CreateStateMachine", downgrade_express)
    return AwsClients(session=session, region=region), sent


def stub_provisioned_concurrency(clients: AwsClients, environments: int) -> Stubber:
    """Stub the provisioned-concurrency calls moto lacks with botocore's Stubber.

    Expects, in order: PutProvisionedConcurrencyConfig for `environments` on the
    worker alias, two reads (IN_PROGRESS with one environment, then READY) and
    the DeleteProvisionedConcurrencyConfig of the teardown.
    """
    client = clients.session.client("lambda", region_name=clients.region)
    stubber = Stubber(client)
    target = {"FunctionName": ANY, "Qualifier": ALIAS_NAME}
    stubber.add_response(
        "put_provisioned_concurrency_config",
        {
            "RequestedProvisionedConcurrentExecutions": environments,
            "AllocatedProvisionedConcurrentExecutions": 0,
            "Status": "IN_PROGRESS",
        },
        {**target, "ProvisionedConcurrentExecutions": environments},
    )
    for status, allocated in (("IN_PROGRESS", 1), ("READY", environments)):
        stubber.add_response(
            "get_provisioned_concurrency_config",
            {
                "RequestedProvisionedConcurrentExecutions": environments,
                "AvailableProvisionedConcurrentExecutions": allocated,
                "AllocatedProvisionedConcurrentExecutions": allocated,
                "Status": status,
            },
            target,
        )
    stubber.add_response("delete_provisioned_concurrency_config", {}, target)
    stubber.activate()
    clients.overrides["provisioned-concurrency"] = client
    return stubber


def leftovers(prefix: str = "fanout-bench-") -> list[str]:
    """Return every resource in moto whose name starts with `prefix` or that carries a fanout-bench tag."""
    found: list[str] = []
    lambda_ = boto3.client("lambda", region_name=REGION)
    functions = [f["FunctionName"] for f in lambda_.list_functions()["Functions"]]
    found += [f"function {name}" for name in functions if name.startswith(prefix)]
    mappings = lambda_.list_event_source_mappings()["EventSourceMappings"]
    found += [f"mapping {m['UUID']}" for m in mappings if prefix in m.get("FunctionArn", "")]

    machines = boto3.client("stepfunctions", region_name=REGION).list_state_machines()["stateMachines"]
    found += [f"state machine {m['name']}" for m in machines if m["name"].startswith(prefix)]
    queues = boto3.client("sqs", region_name=REGION).list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
    found += [f"queue {url}" for url in queues]
    tables = boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"]
    found += [f"table {name}" for name in tables if name.startswith(prefix)]
    buckets = boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]
    found += [f"bucket {b['Name']}" for b in buckets if b["Name"].startswith(prefix)]
    roles = boto3.client("iam", region_name=REGION).list_roles()["Roles"]
    found += [f"role {r['RoleName']}" for r in roles if r["RoleName"].startswith(prefix)]
    groups = boto3.client("logs", region_name=REGION).describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{prefix}")
    found += [f"log group {g['logGroupName']}" for g in groups["logGroups"]]

    tagging = boto3.client("resourcegroupstaggingapi", region_name=REGION)
    tagged = tagging.get_resources(TagFilters=[{"Key": "fanout-bench:run-id"}])["ResourceTagMappingList"]
    found += [f"tagged {m['ResourceARN']}" for m in tagged]
    return found
