"""The deployment package, the ledger, the deployer's retries, error messages and teardown."""

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from bench.aws.clients import AwsClients, connect
from bench.aws.deploy import ROLE_PROPAGATION_WAIT_S, Deployer, is_role_propagation_error
from bench.aws.errors import describe_client_error, iam_action
from bench.aws.ledger import LEDGER_DIR_ENV, Ledger, Resource, RunInfo, default_ledger_dir
from bench.aws.package import build_package, handler_sources
from bench.aws.teardown import raise_if_failed, teardown_ledger, teardown_resources
from bench.errors import AwsBackendError, InputError

RUN = RunInfo("20260105T120000Z-abc123", "us-east-1", "123456789012")
ROLE_NOT_READY = ("InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda.")


def client_error(code: str, message: str, operation: str = "CreateFunction") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


# Package


def test_package_holds_only_handler_package() -> None:
    package = build_package()
    names = zipfile.ZipFile(io.BytesIO(package.data)).namelist()

    assert names == list(package.files)
    assert "variants/__init__.py" in names
    assert "variants/handlers/orchestrator.py" in names
    assert "variants/handlers/worker.py" in names
    assert "variants/handlers/aggregator.py" in names
    assert len(names) == len(handler_sources()) + 1
    assert not any(name.startswith("bench/") for name in names)


def test_package_is_reproducible() -> None:
    assert build_package().sha256 == build_package().sha256


def test_handlers_import_no_project_modules() -> None:
    for source in handler_sources():
        for line in source.read_text().splitlines():
            if line.startswith(("import ", "from ")):
                module = line.split()[1]
                assert not module.startswith(("bench", "variants")), f"{source.name}: {line}"


# Ledger


def test_ledger_round_trip(tmp_path: Path) -> None:
    ledger = Ledger.create(tmp_path, RUN)
    bucket = Resource("s3-bucket", "fanout-bench-x", "arn:aws:s3:::fanout-bench-x")
    function = Resource("lambda-function", "fanout-bench-x-per-book-worker", variant="per-book")
    ledger.record(bucket)
    ledger.record(function)

    reopened = Ledger.open(ledger.path)

    assert reopened.run == RUN
    assert reopened.resources == [bucket, function]


def test_ledger_forgets_deleted_resources(tmp_path: Path) -> None:
    ledger = Ledger.create(tmp_path, RUN)
    first, second = Resource("log-group", "/aws/lambda/a"), Resource("log-group", "/aws/lambda/b")
    ledger.record(first)
    ledger.record(second)
    ledger.record_deleted(first)

    assert ledger.resources == [second]
    assert Ledger.open(ledger.path).resources == [second]


def test_ledger_for_same_run_rejected(tmp_path: Path) -> None:
    Ledger.create(tmp_path, RUN)

    with pytest.raises(AwsBackendError, match="a ledger for run 20260105T120000Z-abc123 exists"):
        Ledger.create(tmp_path, RUN)


def test_ledger_ignores_incomplete_last_line(tmp_path: Path) -> None:
    ledger = Ledger.create(tmp_path, RUN)
    ledger.record(Resource("log-group", "/aws/lambda/a"))
    with ledger.path.open("a") as stream:
        stream.write('{"resource": {"kind": "iam-ro')

    assert [resource.name for resource in Ledger.open(ledger.path).resources] == ["/aws/lambda/a"]


def test_ledger_with_damaged_line_rejected(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"run": {"run_id": "r", "region": "us-east-1", "account_id": "1"}}\nnot json\n{}\n')

    with pytest.raises(InputError, match="line 2: not valid JSON"):
        Ledger.open(path)


def test_missing_ledger_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="pass --all to search by tag instead"):
        Ledger.open(tmp_path / "absent.jsonl")


def test_ledger_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LEDGER_DIR_ENV, str(tmp_path / "state"))
    assert default_ledger_dir() == tmp_path / "state"

    monkeypatch.delenv(LEDGER_DIR_ENV)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_ledger_dir() == tmp_path / "xdg" / "fanout-bench" / "runs"


# Retries while a new role propagates


@pytest.fixture
def deployer(tmp_path: Path) -> Iterator[tuple[Deployer, list[float]]]:
    sleeps: list[float] = []
    clients = AwsClients(session=boto3.Session(region_name="us-east-1"), region="us-east-1")
    yield Deployer(clients, Ledger.create(tmp_path, RUN), build_package(), sleep=sleeps.append), sleeps


def test_role_propagation_retried_with_backoff(deployer: tuple[Deployer, list[float]]) -> None:
    instance, sleeps = deployer
    outcomes = [client_error(*ROLE_NOT_READY), client_error(*ROLE_NOT_READY), {"FunctionArn": "arn"}]

    def create() -> dict[str, str]:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert instance._retry_while_role_propagates("create function f", create) == {"FunctionArn": "arn"}
    assert sleeps == [1.0, 2.0]


def test_other_errors_not_retried(deployer: tuple[Deployer, list[float]]) -> None:
    instance, sleeps = deployer

    def create() -> None:
        raise client_error("ResourceConflictException", "Function already exist: f")

    with pytest.raises(AwsBackendError, match="could not create function f: ResourceConflictException"):
        instance._retry_while_role_propagates("create function f", create)
    assert sleeps == []


def test_role_propagation_gives_up(deployer: tuple[Deployer, list[float]]) -> None:
    instance, sleeps = deployer

    def create() -> None:
        raise client_error(*ROLE_NOT_READY)

    with pytest.raises(AwsBackendError, match="still not usable after 127 s"):
        instance._retry_while_role_propagates("create function f", create)
    assert sleeps == [1.0, 2.0, 4.0, 8.0] + [16.0] * 7
    assert sum(sleeps) >= ROLE_PROPAGATION_WAIT_S


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (*ROLE_NOT_READY, True),
        ("InvalidParameterValueException", "The provided execution role does not have permissions to call ReceiveMessage on SQS", True),
        (
            "AccessDeniedException",
            "Neither the global service principal states.amazonaws.com, nor the regional one is authorized to assume the provided role.",
            True,
        ),
        ("InvalidParameterValueException", "Unsupported runtime python2.7", False),
        ("ThrottlingException", "Rate exceeded", False),
    ],
)
def test_role_propagation_errors_recognised(code: str, message: str, expected: bool) -> None:
    assert is_role_propagation_error(client_error(code, message)) is expected


# Error messages


def test_access_denied_names_iam_action() -> None:
    error = client_error("AccessDeniedException", "User is not authorized", "CreateFunction")

    assert describe_client_error(error) == (
        "AccessDeniedException: User is not authorized; grant lambda:CreateFunction to the credentials you run bench with"
    )


def test_role_assumption_error_has_no_grant_hint() -> None:
    error = client_error("AccessDeniedException", "not authorized to assume the provided role", "CreateStateMachine")

    assert describe_client_error(error) == "AccessDeniedException: not authorized to assume the provided role"


@pytest.mark.parametrize(
    ("operation", "action"),
    [
        ("GetExecutionHistory", "states:GetExecutionHistory"),
        ("FilterLogEvents", "logs:FilterLogEvents"),
        ("GetResources", "tag:GetResources"),
        ("PutBucketEncryption", "s3:PutBucketEncryption"),
        ("MadeUpOperation", "MadeUpOperation"),
    ],
)
def test_iam_action_of_operation(operation: str, action: str) -> None:
    assert iam_action(operation) == action


# Clients


def test_unknown_profile_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))

    with pytest.raises(AwsBackendError, match="AWS profile 'missing' not found"):
        connect("us-east-1", profile="missing")


def test_region_required(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))

    with pytest.raises(AwsBackendError, match="no AWS Region given; pass --region"):
        connect(None)


# Teardown


@pytest.fixture
def moto_clients() -> Iterator[AwsClients]:
    with mock_aws():
        yield AwsClients(session=boto3.Session(region_name="us-east-1"), region="us-east-1")


def test_teardown_empties_bucket_and_role(moto_clients: AwsClients) -> None:
    s3 = moto_clients.client("s3")
    s3.create_bucket(Bucket="fanout-bench-x")
    for number in range(3):
        s3.put_object(Bucket="fanout-bench-x", Key=f"per-book/{number}.json", Body=b"{}")
    iam = moto_clients.client("iam")
    iam.create_role(RoleName="fanout-bench-x-role", Path="/fanout-bench/", AssumeRolePolicyDocument="{}")
    statement = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::fanout-bench-x/*"]}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    iam.put_role_policy(RoleName="fanout-bench-x-role", PolicyName="fanout-bench", PolicyDocument=policy)
    resources = [Resource("iam-role", "fanout-bench-x-role"), Resource("s3-bucket", "fanout-bench-x")]

    report = teardown_resources(moto_clients, resources)

    assert report.deleted == resources
    assert report.failed == []
    assert s3.list_buckets()["Buckets"] == []
    assert iam.list_roles(PathPrefix="/fanout-bench/")["Roles"] == []


def test_teardown_of_deleted_resources_reports_them_gone(moto_clients: AwsClients) -> None:
    resources = [
        Resource("lambda-function", "fanout-bench-x-worker"),
        Resource("state-machine", "arn:aws:states:us-east-1:123456789012:stateMachine:fanout-bench-x"),
        Resource("dynamodb-table", "fanout-bench-x-progress"),
        Resource("iam-role", "fanout-bench-x-lambda"),
        Resource("log-group", "/aws/lambda/fanout-bench-x-worker"),
        Resource("s3-bucket", "fanout-bench-x"),
    ]

    report = teardown_resources(moto_clients, resources)

    assert report.already_gone == resources
    assert report.ok


def test_teardown_continues_past_failure_and_keeps_ledger(moto_clients: AwsClients, tmp_path: Path) -> None:
    provisioning = moto_clients.session.client("lambda", region_name="us-east-1")
    stubber = Stubber(provisioning)
    stubber.add_client_error("delete_provisioned_concurrency_config", "ServiceException", "Lambda is unavailable")
    stubber.activate()
    moto_clients.overrides["provisioned-concurrency"] = provisioning
    moto_clients.client("logs").create_log_group(logGroupName="/aws/lambda/fanout-bench-x-worker")
    ledger = Ledger.create(tmp_path, RUN)
    log_group = Resource("log-group", "/aws/lambda/fanout-bench-x-worker")
    config = Resource("provisioned-concurrency", "fanout-bench-x-worker", qualifier="live")
    ledger.record(log_group)
    ledger.record(config)

    report = teardown_ledger(moto_clients, ledger)

    assert report.deleted == [log_group]
    assert [resource for resource, _ in report.failed] == [config]
    assert Ledger.open(ledger.path).resources == [config]
    with pytest.raises(AwsBackendError, match=r"left 1 resources behind .* run `bench teardown 20260105T120000Z-abc123` again"):
        raise_if_failed(report, RUN.run_id)


def test_teardown_retries_bucket_refilled_while_emptied(
    moto_clients: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker of a stopped execution may still write its results while teardown empties the bucket.
    monkeypatch.setattr("bench.aws.teardown.BUCKET_RETRY_DELAYS_S", (0.0,))
    s3 = moto_clients.client("s3")
    s3.create_bucket(Bucket="fanout-bench-late-writer")
    late_writes = []

    def write_late_result(**_: object) -> None:
        if not late_writes:
            late_writes.append("results/000007.json")
            s3.put_object(Bucket="fanout-bench-late-writer", Key="results/000007.json", Body=b"[]")

    s3.meta.events.register("before-call.s3.DeleteBucket", write_late_result)

    report = teardown_resources(moto_clients, [Resource("s3-bucket", "fanout-bench-late-writer")])

    assert report.ok
    assert late_writes == ["results/000007.json"]
    assert "fanout-bench-late-writer" not in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def test_teardown_gives_up_on_bucket_that_keeps_filling(
    moto_clients: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bench.aws.teardown.BUCKET_RETRY_DELAYS_S", (0.0, 0.0))
    s3 = moto_clients.client("s3")
    s3.create_bucket(Bucket="fanout-bench-busy")
    writes = []

    def write_again(**_: object) -> None:
        writes.append(len(writes))
        s3.put_object(Bucket="fanout-bench-busy", Key=f"results/{len(writes):06d}.json", Body=b"[]")

    s3.meta.events.register("before-call.s3.DeleteBucket", write_again)

    report = teardown_resources(moto_clients, [Resource("s3-bucket", "fanout-bench-busy")])

    assert not report.ok
    assert len(writes) == 3
    assert "BucketNotEmpty" in report.failed[0][1]
