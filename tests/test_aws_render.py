"""Rendering a variant for AWS: ASL definitions, IAM policies, the resource plan and `bench render`."""

import fnmatch
import json
import math
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from bench.aws.naming import RunNames, VariantNames
from bench.aws.render import Rendering, render, worker_timeout_s
from bench.cli import app
from bench.errors import InputError
from bench.workload import Workload
from large_reading_list import LARGE_BOOKS, PAYLOAD_QUOTA_BYTES, large_reading_list_csv
from variants import VARIANTS, RetryPolicy, Variant, get_variant
from variants.handlers.orchestrator import stage_items
from variants.handlers.readinglist import parse_reading_list

ACCOUNT = "123456789012"
RUN_ID = "20261204T201500Z-3f9a1c"
PREFIX = "fanout-bench-20261204t201500z-3f9a1c"
WORKLOAD = Workload(work_seconds=3.0, jitter=0.0)


def names_for(variant: str, region: str = "us-east-1") -> VariantNames:
    return RunNames(RUN_ID, region, ACCOUNT).for_variant(variant)


def rendered(variant: Variant, workload: Workload = WORKLOAD) -> Rendering:
    return render(variant, names_for(variant.name), workload)


def map_state(rendering: Rendering) -> dict[str, Any]:
    assert rendering.definition is not None
    return rendering.definition["States"]["FanOut"]


def worker_task(rendering: Rendering) -> dict[str, Any]:
    return map_state(rendering)["ItemProcessor"]["States"]["ProcessBooks"]


def all_statements(rendering: Rendering) -> list[dict[str, Any]]:
    roles = [rendering.lambda_role] + ([rendering.states_role] if rendering.states_role else [])
    return [statement for role in roles for statement in role.policy["Statement"]]


# State machine definitions


def test_inline_map_shape() -> None:
    rendering = rendered(get_variant("per-book"))
    state = map_state(rendering)

    assert state["Type"] == "Map"
    assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert state["MaxConcurrency"] == 1000
    assert state["ItemsPath"] == "$.ranges"
    assert state["ItemSelector"] == {
        "range.$": "$$.Map.Item.Value",
        "index.$": "$$.Map.Item.Index",
        "items_key.$": "$$.Execution.Input.items_key",
        "run.$": "$$.Execution.Input.run",
    }
    assert state["Next"] == "Aggregate"
    assert rendering.definition is not None
    assert rendering.definition["StartAt"] == "FanOut"
    assert rendering.definition["States"]["Aggregate"]["End"] is True


def test_inline_map_passes_result_keys() -> None:
    rendering = rendered(get_variant("per-book"))
    assert rendering.definition is not None
    aggregator = rendering.definition["States"]["Aggregate"]

    assert worker_task(rendering)["OutputPath"] == "$.Payload.stored"
    assert aggregator["Parameters"]["Payload"] == {
        "run.$": "$$.Execution.Input.run",
        "total.$": "$$.Execution.Input.total",
        "result_keys.$": "$",
    }
    assert aggregator["OutputPath"] == "$.Payload"


def test_inline_map_retry_block_follows_variant() -> None:
    policy = RetryPolicy(interval_seconds=2.0, backoff_rate=1.5, max_attempts=6, errors=("Lambda.TooManyRequestsException",))
    rendering = rendered(get_variant("per-book").with_knobs(retry=policy, max_concurrency=25))
    task = worker_task(rendering)

    assert map_state(rendering)["MaxConcurrency"] == 25
    assert task["Retry"] == [
        {"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 2, "BackoffRate": 1.5, "MaxAttempts": 6}
    ]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke"
    assert task["Parameters"] == {"FunctionName": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{PREFIX}-per-book-worker", "Payload.$": "$"}
    assert task["OutputPath"] == "$.Payload.stored"


def test_default_retry_block_is_console_default() -> None:
    task = worker_task(rendered(get_variant("batched")))

    assert task["Retry"] == [
        {
            "ErrorEquals": [
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
                "Lambda.TooManyRequestsException",
            ],
            "IntervalSeconds": 1,
            "BackoffRate": 2.0,
            "MaxAttempts": 3,
        }
    ]


def test_batched_iterations_receive_ranges() -> None:
    # A batch is one byte range of consecutive lines, so the state is the same as per-book's.
    batched = map_state(rendered(get_variant("batched")))
    per_book = map_state(rendered(get_variant("per-book")))

    assert batched["ItemsPath"] == per_book["ItemsPath"]
    assert batched["ItemSelector"] == per_book["ItemSelector"]


@pytest.mark.parametrize(
    ("name", "books"), [("per-book", LARGE_BOOKS), ("per-book", 1911), ("batched", 1911), ("provisioned", LARGE_BOOKS)]
)
def test_inline_execution_input_far_below_quota(name: str, books: int) -> None:
    variant = get_variant(name)
    items = parse_reading_list(large_reading_list_csv(books))
    run = {"run_id": RUN_ID, "variant": name, "repetition": 0, "prefix": f"{name}/rep-0000/"}

    body, execution_input = stage_items(variant.fan_out, variant.batch_size, run, items)
    size = len(json.dumps(execution_input, separators=(",", ":")).encode("utf-8"))

    assert len(body) > PAYLOAD_QUOTA_BYTES
    assert size < PAYLOAD_QUOTA_BYTES // 8
    assert len(execution_input["ranges"]) == math.ceil(books / variant.batch_size)
    assert sum(length for _, length in execution_input["ranges"]) == len(body)
    assert map_state(rendered(variant))["ItemsPath"] == "$.ranges"


def test_provisioned_worker_is_invoked_through_alias() -> None:
    task = worker_task(rendered(get_variant("provisioned")))

    assert task["Parameters"]["FunctionName"].endswith(f"{PREFIX}-provisioned-worker:live")


def test_distributed_map_shape() -> None:
    rendering = rendered(get_variant("distributed"))
    state = map_state(rendering)

    assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    assert state["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": PREFIX, "Key.$": "$.items_key"},
    }
    assert state["MaxConcurrency"] == 1000
    assert state["ResultPath"] is None
    assert "ItemBatcher" not in state
    assert state["ItemSelector"] == {"item.$": "$$.Map.Item.Value", "run.$": "$$.Execution.Input.run"}


def test_distributed_batches_with_item_batcher() -> None:
    state = map_state(rendered(get_variant("distributed").with_knobs(batch_size=10)))

    assert state["ItemBatcher"] == {"MaxItemsPerBatch": 10}


def test_region_partition_reaches_arns() -> None:
    variant = get_variant("per-book")
    rendering = render(variant, names_for("per-book", region="cn-north-1"), WORKLOAD)

    assert worker_task(rendering)["Resource"] == "arn:aws-cn:states:::lambda:invoke"
    assert rendering.lambda_role.arn.startswith("arn:aws-cn:iam::")


def test_sqs_variant_has_no_state_machine() -> None:
    rendering = rendered(get_variant("sqs").with_knobs(esm_max_concurrency=50))

    assert rendering.definition is None
    assert rendering.states_role is None
    assert rendering.event_source_mapping == {
        "EventSourceArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{PREFIX}-sqs-queue",
        "FunctionName": f"{PREFIX}-sqs-worker",
        "BatchSize": 1,
        "Enabled": True,
        "ScalingConfig": {"MaximumConcurrency": 50},
    }
    worker_timeout = rendering.function("worker").timeout_s
    assert rendering.queue_attributes == {"VisibilityTimeout": str(6 * worker_timeout), "SqsManagedSseEnabled": "true"}


def test_large_esm_batch_gets_batching_window() -> None:
    rendering = rendered(get_variant("sqs").with_knobs(esm_batch_size=50))

    assert rendering.event_source_mapping is not None
    assert rendering.event_source_mapping["MaximumBatchingWindowInSeconds"] == 1


# Functions


def test_functions_share_variant_settings() -> None:
    rendering = rendered(get_variant("batched").with_knobs(memory_mb=512, architecture="arm64", reserved_concurrency=30))

    assert [spec.name for spec in rendering.functions] == [
        f"{PREFIX}-batched-orchestrator",
        f"{PREFIX}-batched-worker",
        f"{PREFIX}-batched-aggregator",
    ]
    assert [spec.handler for spec in rendering.functions] == [
        "variants.handlers.orchestrator.handler",
        "variants.handlers.worker.handler",
        "variants.handlers.aggregator.handler",
    ]
    assert {spec.memory_mb for spec in rendering.functions} == {512}
    assert {spec.architecture for spec in rendering.functions} == {"arm64"}
    assert rendering.function("worker").reserved_concurrency == 30
    assert rendering.function("orchestrator").reserved_concurrency is None
    assert rendering.function("worker").environment["FANOUT_BATCH_SIZE"] == "20"
    assert rendering.function("worker").environment["FANOUT_STATE_MACHINE_ARN"].endswith(f"{PREFIX}-batched-pipeline")


def test_worker_timeout_covers_work() -> None:
    assert worker_timeout_s(get_variant("per-book"), Workload(3.0, 0.0)) == 36
    assert worker_timeout_s(get_variant("batched"), Workload(3.0, 0.0)) == 36
    assert worker_timeout_s(get_variant("batched").with_knobs(batch_threads=1), Workload(3.0, 0.0)) == 150
    assert worker_timeout_s(get_variant("per-book"), Workload(0.0, 0.0)) == 30


def test_worker_timeout_over_limit_rejected() -> None:
    with pytest.raises(InputError, match="over the 900 s limit"):
        worker_timeout_s(get_variant("batched").with_knobs(batch_threads=1), Workload(60.0, 0.0))
    with pytest.raises(InputError, match="over the 300 s limit"):
        worker_timeout_s(get_variant("distributed").with_knobs(batch_size=200), Workload(3.0, 0.0))


def test_fractional_retry_interval_rejected() -> None:
    variant = get_variant("per-book").with_knobs(retry=RetryPolicy(interval_seconds=0.5))

    with pytest.raises(InputError, match="IntervalSeconds must be a whole number"):
        rendered(variant)


# IAM


@pytest.mark.parametrize("name", list(VARIANTS))
def test_policies_have_no_wildcard_actions(name: str) -> None:
    statements = all_statements(rendered(get_variant(name)))

    assert statements
    for statement in statements:
        for action in statement["Action"]:
            assert "*" not in action, statement["Sid"]
            assert ":" in action, statement["Sid"]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_policies_are_scoped_to_run_resources(name: str) -> None:
    statements = all_statements(rendered(get_variant(name)))

    for statement in statements:
        assert statement["Effect"] == "Allow"
        for resource in statement["Resource"]:
            assert resource != "*", statement["Sid"]
            assert PREFIX in resource, (statement["Sid"], resource)


def test_sqs_lambda_role_actions() -> None:
    rendering = rendered(get_variant("sqs"))
    actions = {action for statement in all_statements(rendering) for action in statement["Action"]}

    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "sqs:SendMessage",
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "dynamodb:UpdateItem",
        "lambda:InvokeFunction",
    }


def test_states_role_for_distributed_map() -> None:
    rendering = rendered(get_variant("distributed"))
    assert rendering.states_role is not None
    by_sid = {statement["Sid"]: statement for statement in rendering.states_role.policy["Statement"]}

    assert by_sid["StartChildWorkflows"]["Action"] == ["states:StartExecution"]
    assert by_sid["StartChildWorkflows"]["Resource"] == [f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{PREFIX}-distributed-pipeline"]
    assert by_sid["ReadItems"]["Resource"] == [f"arn:aws:s3:::{PREFIX}/distributed/*"]
    trust = rendering.states_role.trust_policy["Statement"][0]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


@pytest.mark.parametrize("name", ["per-book", "batched", "provisioned"])
def test_inline_lambda_role_covers_worker_objects(name: str) -> None:
    rendering = rendered(get_variant(name))
    statements = rendering.lambda_role.policy["Statement"]
    bucket = f"arn:aws:s3:::{PREFIX}"

    def allowed(action: str, key: str) -> bool:
        return any(
            action in statement["Action"] and fnmatch.fnmatchcase(f"{bucket}/{key}", resource)
            for statement in statements
            for resource in statement["Resource"]
        )

    assert allowed("s3:GetObject", f"{name}/rep-0000/items.jsonl")
    assert allowed("s3:PutObject", f"{name}/rep-0000/items.jsonl")
    assert allowed("s3:PutObject", f"{name}/rep-0000/results/000000.json")
    assert allowed("s3:GetObject", f"{name}/rep-0000/results/000000.json")
    assert not allowed("s3:GetObject", "other/rep-0000/items.jsonl")
    assert "s3:ListBucket" not in {action for statement in statements for action in statement["Action"]}


def test_inline_states_role_only_invokes_functions() -> None:
    rendering = rendered(get_variant("per-book"))
    assert rendering.states_role is not None

    assert [statement["Action"] for statement in rendering.states_role.policy["Statement"]] == [["lambda:InvokeFunction"]]


# Plan


def test_plan_lists_resources_in_creation_order() -> None:
    plan = rendered(get_variant("provisioned")).plan()

    assert [resource["type"] for resource in plan["resources"]] == [
        "s3-bucket",
        "log-group",
        "log-group",
        "log-group",
        "iam-role",
        "iam-role",
        "lambda-function",
        "lambda-function",
        "lambda-function",
        "provisioned-concurrency",
        "state-machine",
    ]
    assert plan["variant"]["name"] == "provisioned"
    assert plan["resources"][9]["environments"] == 40


def test_plan_tags_every_resource() -> None:
    plan = rendered(get_variant("sqs")).plan()

    for resource in plan["resources"]:
        assert resource["tags"] == {"fanout-bench:run-id": RUN_ID, "fanout-bench:variant": "sqs"}


# Names


def test_run_id_with_invalid_characters_rejected() -> None:
    with pytest.raises(InputError, match="expected letters, digits and hyphens"):
        RunNames("run_1/x", "us-east-1", ACCOUNT)


def test_long_run_id_rejected() -> None:
    with pytest.raises(InputError, match="exceeds 63 characters"):
        RunNames("x" * 60, "us-east-1", ACCOUNT)


def test_long_resource_name_rejected() -> None:
    with pytest.raises(InputError, match="exceeds 64 characters"):
        RunNames("r" * 40, "us-east-1", ACCOUNT).for_variant("provisioned")


# bench render


@pytest.mark.parametrize("name", list(VARIANTS))
def test_render_command_writes_files(tmp_path: Path, name: str) -> None:
    result = CliRunner().invoke(app, ["render", "--variant", name, "--out", str(tmp_path)])

    assert result.exit_code == 0, result.output
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["variant"]["name"] == name
    policy = json.loads((tmp_path / "iam" / "lambda-role-policy.json").read_text())
    assert policy["Version"] == "2012-10-17"
    assert (tmp_path / "state-machine.asl.json").exists() == (name != "sqs")
    assert (tmp_path / "iam" / "states-role-policy.json").exists() == (name != "sqs")


def test_render_command_rejects_unknown_variant(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["render", "--variant", "fastest", "--out", str(tmp_path)])

    assert result.exit_code == 2
    assert "--variant 'fastest' is not a variant" in result.output


@pytest.mark.parametrize("name", ["per-book", "batched", "provisioned", "distributed"])
def test_rendered_definition_accepted_by_moto(tmp_path: Path, name: str) -> None:
    CliRunner().invoke(app, ["render", "--variant", name, "--out", str(tmp_path)])
    definition = json.loads((tmp_path / "state-machine.asl.json").read_text())
    trust = (tmp_path / "iam" / "states-role-trust.json").read_text()
    # moto 5.2.5's ASL grammar accepts only "STANDARD" for a distributed Map's children.
    processor = definition["States"]["FanOut"]["ItemProcessor"]["ProcessorConfig"]
    if processor.get("ExecutionType") == "EXPRESS":
        processor["ExecutionType"] = "STANDARD"

    # Only with execution on does moto parse the definition, and reject one it cannot run.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        role = boto3.client("iam", region_name="us-east-1").create_role(RoleName="render-check", AssumeRolePolicyDocument=trust)
        states = boto3.client("stepfunctions", region_name="us-east-1")
        created = states.create_state_machine(name=f"check-{name}", definition=json.dumps(definition), roleArn=role["Role"]["Arn"])

        assert created["stateMachineArn"].endswith(f"check-{name}")


def test_render_applies_variant_knobs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bench.cli import app

    outcome = CliRunner().invoke(
        app, ["render", "--variant", "batched", "--batch-size", "10", "--max-concurrency", "5", "--out", str(tmp_path)]
    )

    definition = json.loads((tmp_path / "state-machine.asl.json").read_text())
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert outcome.exit_code == 0
    assert definition["States"]["FanOut"]["MaxConcurrency"] == 5
    assert plan["variant"]["batch_size"] == 10
