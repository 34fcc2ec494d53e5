"""The aws backend end to end on moto: every variant deployed, run, measured and torn down."""

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from aws_runtime import LambdaRuntime, lambda_runtime, leftovers, moto_clients, stub_provisioned_concurrency  # noqa: F401
from large_reading_list import LARGE_BOOKS, PAYLOAD_QUOTA_BYTES, write_large_reading_list
from bench.aws.clients import AwsClients
from bench.aws.runner import RunCancelled, run_on_aws
from bench.books import load_reading_list
from bench.cli import app
from bench.errors import AwsBackendError
from bench.results import read_result
from bench.sim import simulate
from bench.sim.pipeline import compact_json_size
from bench.sim.rules import AwsRules
from bench.workload import Workload
from variants import Variant, get_variant

BOOKS = 12
FAST = Workload(work_seconds=0.0, jitter=0.0)
ACCOUNT = "123456789012"  # moto's default account id

# The five variants as the tests run them: batched in batches of 5 on 2 threads, and
# provisioned with 3 environments, so 12 books exercise batching and spill-over.
VARIANTS = {
    "per-book": get_variant("per-book"),
    "batched": get_variant("batched").with_knobs(batch_size=5, batch_threads=2),
    "sqs": get_variant("sqs"),
    "provisioned": get_variant("provisioned").with_knobs(provisioned=3),
    "distributed": get_variant("distributed"),
}

# Worker invocations for 12 books, and the counters moto runs produce. An inline Map worker
# makes one ranged GET of its books and one PUT of its results, and the aggregator one GET
# per worker. moto's SQS event source mapping delivers one message per invocation, and moto
# keeps distributed Map children's states out of the parent history.
EXPECTED = {
    "per-book": {"workers": 12, "state_transitions": 14, "s3_get_requests": 25, "s3_put_requests": 14},
    "batched": {"workers": 3, "state_transitions": 5, "s3_get_requests": 7, "s3_put_requests": 5},
    "provisioned": {"workers": 12, "state_transitions": 14, "s3_get_requests": 25, "s3_put_requests": 14},
    "sqs": {
        "workers": 12,
        "state_transitions": 0,
        "s3_get_requests": 13,
        "s3_put_requests": 14,
        "dynamodb_write_requests": 13,
        "sqs_requests": 27,
    },
    "distributed": {
        "workers": 12,
        "state_transitions": 2,
        "s3_get_requests": 13,
        "s3_put_requests": 15,
        "express_executions": 12,
    },
}


def short_sleep(seconds: float) -> None:
    """Wait at most 50 ms: moto finishes in milliseconds, so long polls only slow the tests."""
    time.sleep(min(seconds, 0.05))


def decline_prompt(message: str) -> bool:
    raise AssertionError(f"the cost prompt must not be shown here: {message}")


def run(tmp_path: Path, variants: list[Variant], clients: AwsClients | None = None, **changes: Any) -> dict[str, Any]:
    """Run `variants` with run_on_aws on 12 bundled books, one repetition, no service time."""
    arguments: dict[str, Any] = {
        "variants": variants,
        "reading_list": load_reading_list(None, limit=BOOKS),
        "workload": FAST,
        "repetitions": 1,
        "region": "us-east-1",
        "profile": None,
        "endpoint_url": None,
        "keep": False,
        "assume_yes": True,
        "timeout_s": 30.0,
        "seed": 0,
        "rules": AwsRules(),
        "confirm": decline_prompt,
        "progress": None,
        "clients": clients or moto_clients()[0],
        "ledger_dir": tmp_path / "ledgers",
        "log_wait_s": 2.0,
        "sleep": short_sleep,
    }
    arguments.update(changes)
    return run_on_aws(**arguments)


def functions_of(repetition: dict[str, Any]) -> Counter[str]:
    return Counter(repetition["invocations"]["function"])


def ledger_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "ledgers").glob("*.jsonl"))


def fail_call(clients: AwsClients, event: str, error: BaseException, after: int = 0) -> None:
    """Make the API call named by `event` raise `error`, after `after` calls went through."""
    calls = Counter[str]()

    def hook(**kwargs: Any) -> None:
        calls[event] += 1
        if calls[event] > after:
            raise error

    clients.session.events.register(event, hook)


def mentions_book(event: dict[str, Any], book_id: int) -> bool:
    """Return True when a distributed Map or SQS worker event carries the book with `book_id`."""
    text = json.dumps(event, separators=(",", ":")) + "".join(
        record["body"].replace(" ", "") for record in event.get("Records", [])
    )
    return f'"id":{book_id},' in text


def record_histories(clients: AwsClients) -> list[dict[str, Any]]:
    """Return a list that collects every event the backend reads with GetExecutionHistory."""
    events: list[dict[str, Any]] = []

    def collect(parsed: dict[str, Any], **kwargs: Any) -> None:
        events.extend(parsed.get("events", []))

    clients.session.events.register("after-call.stepfunctions.GetExecutionHistory", collect)
    return events


def payload_sizes(events: list[dict[str, Any]]) -> dict[str, int]:
    """Return the UTF-8 size of each input, output and parameters string in the history events, by event."""
    sizes = {}
    for event in events:
        for field, details in event.items():
            if not field.endswith("EventDetails"):
                continue
            for name in ("input", "output", "parameters"):
                if isinstance(details.get(name), str):
                    sizes[f"{event['id']} {event['type']} {name}"] = len(details[name].encode("utf-8"))
    return sizes


def injected_client_error(operation: str, code: str = "ServiceUnavailable") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected by the test"}}, operation)


# Every variant


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_end_to_end(lambda_runtime: LambdaRuntime, tmp_path: Path, name: str) -> None:
    clients, definitions = moto_clients()
    variant = VARIANTS[name]
    if variant.provisioned:
        stubber = stub_provisioned_concurrency(clients, variant.provisioned)
        lambda_runtime.provisioned[("worker", "live")] = variant.provisioned

    document = run(tmp_path, [variant], clients)
    repetition = document["variants"][0]["repetitions"][0]
    simulated = simulate(variant, load_reading_list(None, limit=BOOKS).items, FAST, AwsRules(), seed=0)

    assert repetition["status"] == "succeeded", repetition["error"]
    assert repetition["error"] is None
    assert repetition["partial"] is False
    assert simulated.aggregate_sha256 is not None
    assert repetition["aggregate_sha256"] == simulated.aggregate_sha256
    assert set(repetition["stages"]) == {"orchestrator", "map", "aggregator"}
    assert functions_of(repetition) == {"orchestrator": 1, "worker": EXPECTED[name]["workers"], "aggregator": 1}
    worker_items = [
        items
        for function, items in zip(repetition["invocations"]["function"], repetition["invocations"]["items"])
        if function == "worker"
    ]
    assert sum(worker_items) == BOOKS
    for counter, value in EXPECTED[name].items():
        if counter != "workers":
            assert repetition["counters"][counter] == value, counter
    assert repetition["counters"]["lambda_requests"] == EXPECTED[name]["workers"] + 2
    if variant.fan_out == "inline-map":
        assert repetition["counters"]["s3_get_requests"] == simulated.counters["s3_get_requests"]
        assert repetition["counters"]["s3_put_requests"] == simulated.counters["s3_put_requests"]
    assert leftovers() == []
    assert ledger_files(tmp_path) == []
    if variant.provisioned:
        stubber.assert_no_pending_responses()
    if name == "distributed":
        processor = definitions[0]["States"]["FanOut"]["ItemProcessor"]["ProcessorConfig"]
        assert processor == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}


# Inputs over Step Functions' payload quota


@pytest.mark.parametrize(("name", "workers"), [("per-book", LARGE_BOOKS), ("batched", LARGE_BOOKS // 5)])
def test_inline_map_input_over_payload_quota(
    lambda_runtime: LambdaRuntime, tmp_path: Path, name: str, workers: int
) -> None:
    clients, _ = moto_clients()
    history = record_histories(clients)
    reading_list = load_reading_list(write_large_reading_list(tmp_path / "large.csv"))
    variant = VARIANTS[name]

    document = run(tmp_path, [variant], clients, reading_list=reading_list, timeout_s=120.0)
    repetition = document["variants"][0]["repetitions"][0]
    simulated = simulate(variant, reading_list.items, FAST, AwsRules(), seed=0)
    sizes = payload_sizes(history)

    assert compact_json_size(reading_list.items) > PAYLOAD_QUOTA_BYTES
    assert repetition["status"] == "succeeded", repetition["error"]
    assert simulated.aggregate_sha256 is not None
    assert repetition["aggregate_sha256"] == simulated.aggregate_sha256
    assert functions_of(repetition) == {"orchestrator": 1, "worker": workers, "aggregator": 1}
    assert repetition["counters"]["s3_get_requests"] == 1 + 2 * workers
    assert repetition["counters"]["s3_put_requests"] == 2 + workers
    assert any(label.endswith("ExecutionStarted input") for label in sizes)
    assert any(label.endswith("MapStateExited output") for label in sizes)
    assert max(sizes.values()) < PAYLOAD_QUOTA_BYTES // 8, max(sizes, key=sizes.__getitem__)
    assert leftovers() == []


def test_result_document_records_aws_run(lambda_runtime: LambdaRuntime, tmp_path: Path) -> None:
    document = run(tmp_path, [VARIANTS["per-book"]], repetitions=2)

    assert document["backend"] == "aws"
    assert document["region"] == "us-east-1"
    assert document["environment"]["account_id"] == ACCOUNT
    assert document["environment"]["endpoint_url"] is None
    assert len(document["environment"]["code_sha256"]) == 64
    assert document["input"]["items"] == BOOKS
    assert document["parameters"]["repetitions"] == 2
    repetitions = document["variants"][0]["repetitions"]
    assert [repetition["index"] for repetition in repetitions] == [0, 1]
    assert [repetition["status"] for repetition in repetitions] == ["succeeded", "succeeded"]
    assert repetitions[0]["aggregate_sha256"] == repetitions[1]["aggregate_sha256"]
    assert repetitions[0]["stages"]["orchestrator"]["start"] == 0.0


def test_provisioned_worker_uses_alias_environments(lambda_runtime: LambdaRuntime, tmp_path: Path) -> None:
    clients, _ = moto_clients()
    stub_provisioned_concurrency(clients, 3)
    lambda_runtime.provisioned[("worker", "live")] = 3
    progress: list[tuple[str, int, int]] = []

    document = run(tmp_path, [VARIANTS["provisioned"]], clients, progress=lambda *call: progress.append(call))
    invocations = document["variants"][0]["repetitions"][0]["invocations"]
    workers = [i for i, function in enumerate(invocations["function"]) if function == "worker"]
    on_alias = [i for i in workers if invocations["provisioned"][i]]

    assert {record.qualifier for record in lambda_runtime.invocations_of("worker")} == {"live"}
    assert len(on_alias) >= 1
    assert all(not invocations["cold"][i] for i in on_alias)
    assert all(invocations["init_s"][i] == 0.0 for i in on_alias)
    assert [call[1:] for call in progress if call[0].startswith("provisioned concurrency")] == [(1, 3), (3, 3)]
    assert document["variants"][0]["repetitions"][0]["counters"]["provisioned_environments"] == 3


# Resources as deployed, and `bench teardown`


def test_kept_resources_match_the_rendering(
    lambda_runtime: LambdaRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    document = run(tmp_path, [VARIANTS["sqs"]], keep=True)
    run_id = document["run_id"]
    base = f"fanout-bench-{run_id.lower()}"
    worker = f"{base}-sqs-worker"

    s3 = boto3.client("s3", region_name="us-east-1")
    block = s3.get_public_access_block(Bucket=base)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    encryption = s3.get_bucket_encryption(Bucket=base)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    lambda_ = boto3.client("lambda", region_name="us-east-1")
    configuration = lambda_.get_function_configuration(FunctionName=worker)
    assert configuration["Runtime"] == "python3.12"
    assert configuration["Handler"] == "variants.handlers.worker.handler"
    assert configuration["Environment"]["Variables"]["FANOUT_FAN_OUT"] == "sqs"
    assert lambda_.list_tags(Resource=configuration["FunctionArn"])["Tags"]["fanout-bench:run-id"] == run_id
    mapping = lambda_.list_event_source_mappings(FunctionName=worker)["EventSourceMappings"][0]
    assert mapping["BatchSize"] == 1

    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.get_queue_url(QueueName=f"{base}-sqs-queue")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert attributes["VisibilityTimeout"] == str(6 * configuration["Timeout"])

    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.get_role(RoleName=f"{base}-sqs-lambda")["Role"]
    assert role["Path"] == "/fanout-bench/"
    assert iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"] == ["fanout-bench"]
    groups = boto3.client("logs", region_name="us-east-1").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{base}")
    assert [group["retentionInDays"] for group in groups["logGroups"]] == [1, 1, 1]
    assert document["environment"]["ledger"] == str(ledger_files(tmp_path)[0])

    monkeypatch.setenv("FANOUT_BENCH_STATE_DIR", str(tmp_path / "ledgers"))
    result = CliRunner().invoke(app, ["teardown", run_id])

    assert result.exit_code == 0, result.output
    assert f"deleted lambda-function {worker}" in result.output
    assert leftovers() == []
    assert ledger_files(tmp_path) == []


def test_teardown_all_without_ledger(
    lambda_runtime: LambdaRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(tmp_path, [VARIANTS["per-book"], VARIANTS["sqs"]], keep=True)
    for ledger in ledger_files(tmp_path):
        ledger.unlink()
    monkeypatch.setenv("FANOUT_BENCH_STATE_DIR", str(tmp_path / "ledgers"))

    dry = CliRunner().invoke(app, ["teardown", "--all", "--dry-run", "--region", "us-east-1"])
    assert dry.exit_code == 0, dry.output
    assert "would delete event-source-mapping" in dry.output
    assert "would delete iam-role" in dry.output
    assert len(leftovers()) > 0

    result = CliRunner().invoke(app, ["teardown", "--all", "--region", "us-east-1"])
    assert result.exit_code == 0, result.output
    assert leftovers() == []

    again = CliRunner().invoke(app, ["teardown", "--all", "--region", "us-east-1"])
    assert again.exit_code == 0
    assert "nothing to delete" in again.output


def test_teardown_needs_run_id_or_all() -> None:
    result = CliRunner().invoke(app, ["teardown"])

    assert result.exit_code == 2
    assert "name one run id, or pass --all" in result.output


# Failures at every stage leave nothing behind


def test_failure_mid_deploy_leaves_nothing(lambda_runtime: LambdaRuntime, tmp_path: Path) -> None:
    clients, _ = moto_clients()
    fail_call(clients, "before-call.lambda.CreateFunction", injected_client_error("CreateFunction"), after=1)

    with pytest.raises(AwsBackendError, match="could not create function .*-worker: ServiceUnavailable"):
        run(tmp_path, [VARIANTS["sqs"]], clients)

    assert leftovers() == []
    assert ledger_files(tmp_path) == []


def test_interrupt_mid_deploy_leaves_nothing(lambda_runtime: LambdaRuntime, tmp_path: Path) -> None:
    clients, _ = moto_clients()
    fail_call(clients, "before-call.stepfunctions.CreateStateMachine", KeyboardInterrupt())

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, [VARIANTS["distributed"]], clients)

    assert leftovers() == []
    assert ledger_files(tmp_path) == []


def test_worker_failure_fails_repetition(lambda_runtime: LambdaRuntime, tmp_path: Path) -> None:
    # An inline Map iteration receives the byte range of its book, not the book. The seventh book is iteration 6.
    lambda_runtime.fail_when(lambda role, event: role == "worker" and event.get("index") == 6)

    document = run(tmp_path, [VARIANTS["per-book"]])
    repetition = document["variants"][0]["repetitions"][0]

    assert repetition["status"] == "failed"
    assert "RuntimeError" in repetition["error"]
    assert "injected failure" in repetition["error"]
    assert repetition["aggregate_sha256"] is None
    assert functions_of(repetition)["aggregator"] == 0
    assert leftovers() == []


def test_distributed_child_failure_caught(lambda_runtime: LambdaRuntime, tmp_path: Path) -> None:
    # moto's Map Run goes on after a failed child, where AWS fails it (ToleratedFailurePercentage
    # defaults to 0); the aggregator's completeness check then fails the execution.
    lambda_runtime.fail_when(lambda role, event: role == "worker" and mentions_book(event, 7))

    document = run(tmp_path, [VARIANTS["distributed"]])
    repetition = document["variants"][0]["repetitions"][0]

    assert repetition["status"] == "failed"
    assert "found 11 of 12 book results" in repetition["error"]
    assert repetition["aggregate_sha256"] is None
    assert leftovers() == []


def test_sqs_worker_failure_times_out(lambda_runtime: LambdaRuntime, tmp_path: Path) -> None:
    lambda_runtime.fail_when(lambda role, event: role == "worker" and mentions_book(event, 3))

    document = run(tmp_path, [VARIANTS["sqs"]], timeout_s=1.0)
    repetition = document["variants"][0]["repetitions"][0]

    assert repetition["status"] == "failed"
    assert repetition["error"] == "timed out after 1 s waiting for the aggregator"
    assert leftovers() == []


def test_failure_mid_run_leaves_nothing(lambda_runtime: LambdaRuntime, tmp_path: Path) -> None:
    clients, _ = moto_clients()
    denied = injected_client_error("DescribeExecution", code="AccessDeniedException")
    fail_call(clients, "before-call.stepfunctions.DescribeExecution", denied)

    with pytest.raises(AwsBackendError, match="grant states:DescribeExecution"):
        run(tmp_path, [VARIANTS["batched"]], clients)

    assert leftovers() == []
    assert ledger_files(tmp_path) == []


def test_interrupt_mid_run_leaves_nothing(lambda_runtime: LambdaRuntime, tmp_path: Path) -> None:
    def interrupt(label: str, done: int, total: int) -> None:
        if label.endswith(": running"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, [VARIANTS["per-book"], VARIANTS["sqs"]], progress=interrupt)

    assert leftovers() == []
    assert ledger_files(tmp_path) == []


# Prompt, endpoint and partial logs


def test_declined_cost_prompt_deploys_nothing(lambda_runtime: LambdaRuntime, tmp_path: Path) -> None:
    prompts: list[str] = []

    def decline(message: str) -> bool:
        prompts.append(message)
        return False

    with pytest.raises(RunCancelled, match="nothing was deployed"):
        run(tmp_path, [VARIANTS["per-book"]], assume_yes=False, confirm=decline)

    assert len(prompts) == 1
    assert f"AWS account {ACCOUNT} in us-east-1" in prompts[0]
    assert "The simulator estimates $" in prompts[0]
    assert leftovers() == []
    assert not (tmp_path / "ledgers").exists()


def test_endpoint_url_skips_prompt(lambda_runtime: LambdaRuntime, tmp_path: Path) -> None:
    # The clients are moto's; the endpoint only decides the prompt and is recorded.
    document = run(tmp_path, [VARIANTS["per-book"]], assume_yes=False, endpoint_url="http://localhost:4566")

    assert document["environment"]["endpoint_url"] == "http://localhost:4566"


def test_missing_logs_mark_partial(lambda_runtime: LambdaRuntime, tmp_path: Path) -> None:
    lambda_runtime.drop_logs.add("worker")

    document = run(tmp_path, [VARIANTS["per-book"]], log_wait_s=0.3)
    repetition = document["variants"][0]["repetitions"][0]

    assert repetition["status"] == "succeeded"
    assert repetition["partial"] is True
    assert functions_of(repetition) == {"orchestrator": 1, "aggregator": 1}
    assert leftovers() == []


def test_bench_run_backend_aws(
    lambda_runtime: LambdaRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FANOUT_BENCH_STATE_DIR", str(tmp_path / "ledgers"))
    arguments = ["run", "--backend", "aws", "--variant", "per-book", "--items", str(BOOKS), "--work-seconds", "0"]
    arguments += ["--jitter", "0", "--repetitions", "1", "--yes", "--output-dir", str(tmp_path / "results")]

    result = CliRunner().invoke(app, arguments)

    assert result.exit_code == 0, result.output
    written = sorted((tmp_path / "results").glob("*.json"))
    assert len(written) == 1
    document = read_result(written[0])
    assert document["backend"] == "aws"
    assert document["variants"][0]["repetitions"][0]["status"] == "succeeded"
    assert leftovers() == []
