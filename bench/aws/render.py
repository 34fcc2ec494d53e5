"""Render a variant's AWS resources from its description: ASL, IAM policies and the resource plan.

This module is the only place that states a pipeline's shape on AWS. The
deployer creates exactly what `render` returns and `bench render` writes the
same objects to files for review.
"""

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.aws.naming import ALIAS_NAME, FUNCTION_ROLES, ROLE_PATH, VariantNames
from bench.errors import InputError
from bench.workload import Workload
from variants import Variant

STATE_MAP = "FanOut"
STATE_WORKER = "ProcessBooks"
STATE_AGGREGATOR = "Aggregate"

LAMBDA_RUNTIME = "python3.12"
HANDLERS = {role: f"variants.handlers.{role}.handler" for role in FUNCTION_ROLES}
LOG_RETENTION_DAYS = 1
ORCHESTRATOR_TIMEOUT_S = 300
AGGREGATOR_TIMEOUT_S = 300

# Lambda timeouts range from 1 to 900 seconds. Source: AWS Lambda developer guide, Lambda quotas.
MAX_FUNCTION_TIMEOUT_S = 900
# Express workflows run for at most 5 minutes. Source: AWS Step Functions developer guide,
# choosing workflow type (Standard and Express).
EXPRESS_MAX_DURATION_S = 300
# An SQS queue's visibility timeout should be at least six times the function timeout, and
# is at most 12 hours. Source: AWS Lambda developer guide, using Lambda with Amazon SQS;
# Amazon SQS developer guide, visibility timeout.
VISIBILITY_TIMEOUT_FACTOR = 6
MAX_VISIBILITY_TIMEOUT_S = 43200
# An ESM batch of more than 10 messages needs a batching window of at least 1 second.
# Source: AWS Lambda developer guide, using Lambda with Amazon SQS.
ESM_BATCH_WITHOUT_WINDOW = 10

LAMBDA_TRUST = "lambda.amazonaws.com"
STATES_TRUST = "states.amazonaws.com"


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function of the pipeline, as CreateFunction receives it."""

    role: str  # "orchestrator", "worker" or "aggregator"
    name: str
    handler: str
    memory_mb: int
    timeout_s: int
    architecture: str
    environment: dict[str, str]
    reserved_concurrency: int | None = None

    def create_request(self, code: bytes, role_arn: str, tags: dict[str, str]) -> dict[str, Any]:
        """Return the keyword arguments of lambda.create_function for this function."""
        return {
            "FunctionName": self.name,
            "Runtime": LAMBDA_RUNTIME,
            "Role": role_arn,
            "Handler": self.handler,
            "Code": {"ZipFile": code},
            "Timeout": self.timeout_s,
            "MemorySize": self.memory_mb,
            "Architectures": [self.architecture],
            "Environment": {"Variables": dict(self.environment)},
            "Tags": dict(tags),
        }


@dataclass(frozen=True)
class RoleSpec:
    """One IAM role: its trust policy and its single inline permissions policy."""

    name: str
    arn: str
    trust_policy: dict[str, Any]
    policy: dict[str, Any]


@dataclass(frozen=True)
class Rendering:
    """Everything the deployer creates for one variant, rendered from its description."""

    variant: Variant
    names: VariantNames
    functions: tuple[FunctionSpec, ...]
    lambda_role: RoleSpec
    states_role: RoleSpec | None
    definition: dict[str, Any] | None
    queue_attributes: dict[str, str] | None
    event_source_mapping: dict[str, Any] | None
    table: dict[str, Any] | None

    def function(self, role: str) -> FunctionSpec:
        """Return the spec of the orchestrator, worker or aggregator."""
        return next(spec for spec in self.functions if spec.role == role)

    @property
    def worker_target(self) -> str:
        """Return the ARN the fan-out invokes: the worker's alias when it has provisioned concurrency."""
        arn = self.names.function_arn("worker")
        return f"{arn}:{ALIAS_NAME}" if self.variant.provisioned > 0 else arn

    def plan(self) -> dict[str, Any]:
        """Return the resource plan: every resource in creation order, with its settings."""
        return {"variant": self.variant.to_dict(), "resources": _plan_resources(self)}


def render(variant: Variant, names: VariantNames, workload: Workload, seed: int = 0) -> Rendering:
    """Render every AWS resource of `variant` for the run and Region in `names`."""
    _check_variant(variant)
    environment = _function_environment(variant, names, workload, seed)
    functions = tuple(_function_spec(role, variant, names, workload, environment) for role in FUNCTION_ROLES)
    worker_timeout = next(spec.timeout_s for spec in functions if spec.role == "worker")

    uses_state_machine = variant.fan_out != "sqs"
    rendering = Rendering(
        variant=variant,
        names=names,
        functions=functions,
        lambda_role=_lambda_role(variant, names),
        states_role=_states_role(variant, names) if uses_state_machine else None,
        definition=None,
        queue_attributes=None if uses_state_machine else _queue_attributes(worker_timeout),
        event_source_mapping=None if uses_state_machine else _event_source_mapping(variant, names),
        table=None if uses_state_machine else _table(names),
    )
    if uses_state_machine:
        rendering = _with_definition(rendering)
    return rendering


def _with_definition(rendering: Rendering) -> Rendering:
    return replace(rendering, definition=state_machine_definition(rendering))


def _check_variant(variant: Variant) -> None:
    if variant.retry.interval_seconds != int(variant.retry.interval_seconds) or variant.retry.interval_seconds < 1:
        raise InputError(
            f"variant {variant.name}: retry interval {variant.retry.interval_seconds} s is invalid; "
            "Step Functions' IntervalSeconds must be a whole number of 1 or more"
        )
    if variant.batch_size < 1 or variant.batch_threads < 1:
        raise InputError(f"variant {variant.name}: batch size and batch threads must be 1 or more")


# Functions


def _function_environment(variant: Variant, names: VariantNames, workload: Workload, seed: int) -> dict[str, str]:
    """Return the environment variables all three functions of the variant share."""
    environment = {
        "FANOUT_RUN_ID": names.run.run_id,
        "FANOUT_VARIANT": variant.name,
        "FANOUT_FAN_OUT": variant.fan_out,
        "FANOUT_BUCKET": names.run.bucket,
        "FANOUT_BATCH_SIZE": str(variant.batch_size),
        "FANOUT_BATCH_THREADS": str(variant.batch_threads),
        "FANOUT_WORK_SECONDS": repr(workload.work_seconds),
        "FANOUT_JITTER": repr(workload.jitter),
        "FANOUT_SEED": str(seed),
    }
    if variant.fan_out == "sqs":
        environment["FANOUT_TABLE"] = names.table
        environment["FANOUT_AGGREGATOR"] = names.function("aggregator")
        environment["FANOUT_QUEUE_NAME"] = names.queue
    else:
        environment["FANOUT_STATE_MACHINE_ARN"] = names.state_machine_arn
    return environment


def _function_spec(
    role: str, variant: Variant, names: VariantNames, workload: Workload, environment: dict[str, str]
) -> FunctionSpec:
    timeouts = {
        "orchestrator": ORCHESTRATOR_TIMEOUT_S,
        "worker": worker_timeout_s(variant, workload),
        "aggregator": AGGREGATOR_TIMEOUT_S,
    }
    return FunctionSpec(
        role=role,
        name=names.function(role),
        handler=HANDLERS[role],
        memory_mb=variant.memory_mb,
        timeout_s=timeouts[role],
        architecture=variant.architecture,
        environment=environment,
        reserved_concurrency=variant.reserved_concurrency if role == "worker" else None,
    )


def worker_timeout_s(variant: Variant, workload: Workload) -> int:
    """Return the worker's timeout: twice its expected work plus 30 s, within Lambda's limits.

    Raises InputError when one invocation's work cannot fit in 900 s, or in an
    Express child's 5 minutes for the distributed variant.
    """
    rounds = math.ceil(variant.items_per_invocation / variant.batch_threads)
    expected_s = rounds * workload.work_seconds * (1 + 3 * workload.jitter)
    limit = EXPRESS_MAX_DURATION_S if variant.fan_out == "distributed-map" else MAX_FUNCTION_TIMEOUT_S
    timeout = math.ceil(2 * expected_s + 30)
    if expected_s >= limit:
        raise InputError(
            f"variant {variant.name}: one worker invocation needs about {expected_s:.0f} s "
            f"({variant.items_per_invocation} items x {workload.work_seconds} s on {variant.batch_threads} threads), "
            f"over the {limit} s limit; lower --work-seconds or the batch size, or raise --batch-threads"
        )
    return max(30, min(timeout, limit))


# IAM


def _policy(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def _allow(
    sid: str, actions: list[str], resources: list[str], condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def _trust(service: str, account_id: str | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if account_id:
        # Guards against the confused-deputy problem. Source: AWS Step Functions developer
        # guide, cross-service confused deputy prevention.
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id}}
    return _policy([statement])


def _lambda_role(variant: Variant, names: VariantNames) -> RoleSpec:
    objects = f"{names.run.bucket_arn}/{names.key_prefix}*"
    statements = [
        _allow(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [names.log_group_arn(role) for role in FUNCTION_ROLES],
        ),
        _allow("ReadWriteVariantObjects", ["s3:GetObject", "s3:PutObject"], [objects]),
    ]
    if variant.fan_out == "sqs":
        statements += _sqs_statements(names)
    else:
        statements.append(_allow("StartPipeline", ["states:StartExecution"], [names.state_machine_arn]))
    if variant.fan_out != "inline-map":
        statements.append(_list_variant_objects(names))
    return RoleSpec(names.lambda_role, names.lambda_role_arn, _trust(LAMBDA_TRUST), _policy(statements))


def _sqs_statements(names: VariantNames) -> list[dict[str, Any]]:
    # The event source mapping polls with the function's role. Source: AWS Lambda developer
    # guide, using Lambda with Amazon SQS (execution role permissions).
    return [
        _allow("SendBooks", ["sqs:SendMessage", "sqs:GetQueueUrl"], [names.queue_arn]),
        _allow(
            "PollBooks", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], [names.queue_arn]
        ),
        _allow("CountCompletedBooks", ["dynamodb:UpdateItem"], [names.table_arn]),
        _allow("StartAggregator", ["lambda:InvokeFunction"], [names.function_arn("aggregator")]),
    ]


def _list_variant_objects(names: VariantNames) -> dict[str, Any]:
    condition = {"StringLike": {"s3:prefix": [f"{names.key_prefix}*"]}}
    return _allow("ListVariantObjects", ["s3:ListBucket"], [names.run.bucket_arn], condition)


def _states_role(variant: Variant, names: VariantNames) -> RoleSpec:
    functions = [names.function_arn("worker"), names.function_arn("aggregator")]
    qualified = [f"{arn}:*" for arn in functions]
    statements = [_allow("InvokePipelineFunctions", ["lambda:InvokeFunction"], functions + qualified)]
    if variant.fan_out == "distributed-map":
        # Source: AWS Step Functions developer guide, IAM policies for using Distributed Map states.
        statements += [
            _allow("StartChildWorkflows", ["states:StartExecution"], [names.state_machine_arn]),
            _allow(
                "ManageChildWorkflows", ["states:DescribeExecution", "states:StopExecution"], names.execution_arns
            ),
            _allow("ReadItems", ["s3:GetObject"], [f"{names.run.bucket_arn}/{names.key_prefix}*"]),
        ]
    trust = _trust(STATES_TRUST, names.run.account_id)
    return RoleSpec(names.states_role, names.states_role_arn, trust, _policy(statements))


# Step Functions


def _retry(variant: Variant) -> list[dict[str, Any]]:
    policy = variant.retry
    return [
        {
            "ErrorEquals": list(policy.errors),
            "IntervalSeconds": int(policy.interval_seconds),
            "BackoffRate": policy.backoff_rate,
            "MaxAttempts": policy.max_attempts,
        }
    ]


def _lambda_task(
    rendering: Rendering, function_arn: str, payload: dict[str, Any], output_path: str
) -> dict[str, Any]:
    partition = rendering.names.run.partition
    return {
        "Type": "Task",
        "Resource": f"arn:{partition}:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, **payload},
        "OutputPath": output_path,
        "Retry": _retry(rendering.variant),
    }


def state_machine_definition(rendering: Rendering) -> dict[str, Any]:
    """Return the Amazon States Language definition of an inline or distributed Map pipeline."""
    variant, names = rendering.variant, rendering.names
    distributed = variant.fan_out == "distributed-map"
    map_state = _distributed_map(rendering) if distributed else _inline_map(rendering)

    aggregator_payload = {"Payload": {"run.$": "$$.Execution.Input.run", "total.$": "$$.Execution.Input.total"}}
    if not distributed:
        aggregator_payload["Payload"]["result_keys.$"] = "$"
    aggregator = _lambda_task(rendering, names.function_arn("aggregator"), aggregator_payload, "$.Payload")
    aggregator["End"] = True

    return {
        "Comment": f"fanout-bench {variant.name}: {variant.description}",
        "StartAt": STATE_MAP,
        "States": {STATE_MAP: {**map_state, "Next": STATE_AGGREGATOR}, STATE_AGGREGATOR: aggregator},
    }


def _inline_map(rendering: Rendering) -> dict[str, Any]:
    # Books and results travel through S3 and only references travel in the payloads, which
    # Step Functions caps at 262,144 bytes. Each iteration receives the byte range of its
    # books in the orchestrator's JSON Lines object, and returns the key of the results
    # object it stored, so the Map's output is the list of those keys, about 40 bytes per
    # iteration. The 25,000-event history quota ends an execution at about 3,500 iterations
    # (7 events each), before that list can reach the payload quota. Source: AWS Step
    # Functions developer guide, Step Functions service quotas.
    worker = _lambda_task(rendering, rendering.worker_target, {"Payload.$": "$"}, "$.Payload.stored")
    worker["End"] = True
    return {
        "Type": "Map",
        "ItemsPath": "$.ranges",
        "ItemSelector": {
            "range.$": "$$.Map.Item.Value",
            "index.$": "$$.Map.Item.Index",
            "items_key.$": "$$.Execution.Input.items_key",
            "run.$": "$$.Execution.Input.run",
        },
        "MaxConcurrency": rendering.variant.max_concurrency,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": STATE_WORKER,
            "States": {STATE_WORKER: worker},
        },
    }


def _distributed_map(rendering: Rendering) -> dict[str, Any]:
    variant, names = rendering.variant, rendering.names
    partition = names.run.partition
    worker = _lambda_task(rendering, rendering.worker_target, {"Payload.$": "$"}, "$.Payload")
    worker["End"] = True
    state: dict[str, Any] = {
        "Type": "Map",
        "Label": STATE_MAP,
        "ItemReader": {
            "Resource": f"arn:{partition}:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket": names.run.bucket, "Key.$": "$.items_key"},
        },
        # Each child receives its book with the run context. Workers store their results
        # in S3, so the Map drops its own output, which cannot reach the 256 KiB payload quota.
        "ItemSelector": {"item.$": "$$.Map.Item.Value", "run.$": "$$.Execution.Input.run"},
        "MaxConcurrency": variant.max_concurrency,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": STATE_WORKER,
            "States": {STATE_WORKER: worker},
        },
        "ResultPath": None,
    }
    if variant.batch_size > 1:
        state["ItemBatcher"] = {"MaxItemsPerBatch": variant.batch_size}
    return state


# SQS and DynamoDB


def _queue_attributes(worker_timeout: int) -> dict[str, str]:
    visibility = min(MAX_VISIBILITY_TIMEOUT_S, VISIBILITY_TIMEOUT_FACTOR * worker_timeout)
    return {"VisibilityTimeout": str(visibility), "SqsManagedSseEnabled": "true"}


def _event_source_mapping(variant: Variant, names: VariantNames) -> dict[str, Any]:
    mapping: dict[str, Any] = {
        "EventSourceArn": names.queue_arn,
        "FunctionName": names.function("worker"),
        "BatchSize": variant.esm_batch_size,
        "Enabled": True,
    }
    if variant.esm_batch_size > ESM_BATCH_WITHOUT_WINDOW:
        mapping["MaximumBatchingWindowInSeconds"] = 1
    if variant.esm_max_concurrency is not None:
        mapping["ScalingConfig"] = {"MaximumConcurrency": variant.esm_max_concurrency}
    return mapping


def _table(names: VariantNames) -> dict[str, Any]:
    return {
        "TableName": names.table,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


# Plan and files


def _plan_resources(rendering: Rendering) -> list[dict[str, Any]]:
    """Return the variant's resources in the order the deployer creates them, each with its tags."""
    names, variant = rendering.names, rendering.variant
    bucket = {"type": "s3-bucket", "name": names.run.bucket, "public_access_blocked": True, "encryption": "AES256"}
    resources: list[dict[str, Any]] = [bucket]
    resources += [
        {"type": "log-group", "name": names.log_group(role), "retention_days": LOG_RETENTION_DAYS}
        for role in FUNCTION_ROLES
    ]

    roles = [rendering.lambda_role] + ([rendering.states_role] if rendering.states_role else [])
    resources += [{"type": "iam-role", "name": role.name, "path": ROLE_PATH, "arn": role.arn} for role in roles]
    if rendering.queue_attributes is not None:
        resources.append({"type": "sqs-queue", "name": names.queue, "attributes": rendering.queue_attributes})
    if rendering.table is not None:
        resources.append({"type": "dynamodb-table", **rendering.table})

    resources += [_plan_function(spec) for spec in rendering.functions]
    if variant.provisioned > 0:
        worker = names.function("worker")
        provisioned = {"function": worker, "alias": ALIAS_NAME, "environments": variant.provisioned}
        resources.append({"type": "provisioned-concurrency", **provisioned})
    if rendering.event_source_mapping is not None:
        resources.append({"type": "event-source-mapping", **rendering.event_source_mapping})
    if rendering.definition is not None:
        resources.append({"type": "state-machine", "name": names.state_machine, "workflow_type": "STANDARD"})

    for resource in resources:
        resource.setdefault("tags", names.tags())
    return resources


def _plan_function(spec: FunctionSpec) -> dict[str, Any]:
    return {
        "type": "lambda-function",
        "name": spec.name,
        "runtime": LAMBDA_RUNTIME,
        "handler": spec.handler,
        "memory_mb": spec.memory_mb,
        "timeout_s": spec.timeout_s,
        "architecture": spec.architecture,
        "reserved_concurrency": spec.reserved_concurrency,
        "environment": spec.environment,
    }


def write_rendering(rendering: Rendering, out_dir: Path) -> list[Path]:
    """Write the definition, IAM policies and plan of `rendering` under `out_dir`; return the paths."""
    files: dict[str, Any] = {"plan.json": rendering.plan()}
    if rendering.definition is not None:
        files["state-machine.asl.json"] = rendering.definition
    roles = [rendering.lambda_role] + ([rendering.states_role] if rendering.states_role else [])
    for role in roles:
        kind = "lambda" if role is rendering.lambda_role else "states"
        files[f"iam/{kind}-role-trust.json"] = role.trust_policy
        files[f"iam/{kind}-role-policy.json"] = role.policy

    written = []
    for relative, document in files.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
