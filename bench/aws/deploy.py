"""Create a variant's AWS resources with boto3, recording each one in the run's ledger."""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.aws.clients import AwsClients
from bench.aws.errors import describe_client_error
from bench.aws.ledger import Ledger, Resource
from bench.aws.naming import ALIAS_NAME, ROLE_PATH, RunNames
from bench.aws.package import Package
from bench.aws.render import LOG_RETENTION_DAYS, FunctionSpec, Rendering, RoleSpec
from bench.errors import AwsBackendError

logger = logging.getLogger(__name__)

T = TypeVar("T")
Progress = Callable[[str, int, int], None]
Sleep = Callable[[float], None]

POLICY_NAME = "fanout-bench"
# A new IAM role takes seconds to become usable by Lambda and Step Functions; calls that
# name it fail meanwhile. Source: IAM user guide, troubleshooting IAM (changes I make are
# not always immediately visible).
ROLE_PROPAGATION_WAIT_S = 120.0
# Allocating provisioned concurrency takes minutes. Source: AWS Lambda developer guide,
# configuring provisioned concurrency.
PROVISIONED_READY_TIMEOUT_S = 1800.0
PROVISIONED_POLL_S = 10.0
MAPPING_READY_TIMEOUT_S = 300.0


@dataclass
class Deployment:
    """The handles of a deployed variant that the runner needs."""

    rendering: Rendering
    state_machine_arn: str | None = None
    queue_url: str | None = None
    mapping_uuid: str | None = None
    provisioned_since: float | None = None  # time.time() when provisioned concurrency was READY


def tag_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    """Return `tags` as the list of pairs that IAM, DynamoDB, S3 and Step Functions take."""
    return [{key: name, value: text} for name, text in sorted(tags.items())]


class Deployer:
    """Creates resources in dependency order; each is in the ledger before the next call."""

    def __init__(
        self,
        clients: AwsClients,
        ledger: Ledger,
        package: Package,
        sleep: Sleep = time.sleep,
        progress: Progress | None = None,
    ) -> None:
        self.clients = clients
        self.ledger = ledger
        self.package = package
        self.sleep = sleep
        self.progress = progress

    # The run's bucket

    def create_bucket(self, run: RunNames, tags: dict[str, str]) -> None:
        """Create the run's bucket with public access blocked and SSE-S3 encryption on."""
        s3 = self.clients.client("s3")
        request: dict[str, Any] = {"Bucket": run.bucket}
        if run.region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": run.region}

        self._call("create the S3 bucket", lambda: s3.create_bucket(**request))
        self.ledger.record(Resource("s3-bucket", run.bucket, run.bucket_arn))

        block_all = {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        encryption = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
        self._call(
            "block public access to the bucket",
            lambda: s3.put_public_access_block(Bucket=run.bucket, PublicAccessBlockConfiguration=block_all),
        )
        self._call(
            "turn on bucket encryption",
            lambda: s3.put_bucket_encryption(Bucket=run.bucket, ServerSideEncryptionConfiguration=encryption),
        )
        self._call(
            "tag the bucket",
            lambda: s3.put_bucket_tagging(Bucket=run.bucket, Tagging={"TagSet": tag_list(tags)}),
        )

    def upload(self, bucket: str, key: str, data: bytes) -> None:
        """Upload `data` to s3://bucket/key."""
        s3 = self.clients.client("s3")
        self._call(f"upload s3://{bucket}/{key}", lambda: s3.put_object(Bucket=bucket, Key=key, Body=data))

    # A variant

    def deploy(self, rendering: Rendering) -> Deployment:
        """Create every resource of one variant and return what the runner needs."""
        names, tags = rendering.names, rendering.names.tags()
        variant = rendering.variant.name
        deployment = Deployment(rendering)
        logger.info("deploying variant %s as %s-*", variant, names.base)

        for spec in rendering.functions:
            self._create_log_group(names.log_group(spec.role), tags, variant)
        self._create_role(rendering.lambda_role, tags, variant)
        if rendering.states_role is not None:
            self._create_role(rendering.states_role, tags, variant)
        if rendering.queue_attributes is not None:
            deployment.queue_url = self._create_queue(rendering, tags)
        if rendering.table is not None:
            self._create_table(rendering, tags)

        for spec in rendering.functions:
            self._create_function(spec, rendering.lambda_role.arn, tags, variant)
        if rendering.variant.provisioned > 0:
            deployment.provisioned_since = self._provision_worker(rendering)
        if rendering.event_source_mapping is not None:
            deployment.mapping_uuid = self._create_mapping(rendering, tags)
        if rendering.definition is not None:
            deployment.state_machine_arn = self._create_state_machine(rendering, tags)
        return deployment

    def _create_log_group(self, name: str, tags: dict[str, str], variant: str) -> None:
        logs = self.clients.client("logs")
        self._call(f"create log group {name}", lambda: logs.create_log_group(logGroupName=name, tags=tags))
        self.ledger.record(Resource("log-group", name, variant=variant))
        self._call(
            f"set the retention of {name}",
            lambda: logs.put_retention_policy(logGroupName=name, retentionInDays=LOG_RETENTION_DAYS),
        )

    def _create_role(self, spec: RoleSpec, tags: dict[str, str], variant: str) -> None:
        iam = self.clients.client("iam")
        self._call(
            f"create IAM role {spec.name}",
            lambda: iam.create_role(
                RoleName=spec.name,
                Path=ROLE_PATH,
                AssumeRolePolicyDocument=json.dumps(spec.trust_policy),
                Description="fanout-bench benchmark role; deleted by bench teardown",
                Tags=tag_list(tags),
            ),
        )
        self.ledger.record(Resource("iam-role", spec.name, spec.arn, variant))
        self._call(
            f"attach the policy of IAM role {spec.name}",
            lambda: iam.put_role_policy(
                RoleName=spec.name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(spec.policy)
            ),
        )

    def _create_queue(self, rendering: Rendering, tags: dict[str, str]) -> str:
        names = rendering.names
        sqs = self.clients.client("sqs")
        attributes = rendering.queue_attributes or {}
        response = self._call(
            f"create SQS queue {names.queue}",
            lambda: sqs.create_queue(QueueName=names.queue, Attributes=attributes, tags=tags),
        )
        queue_url = response["QueueUrl"]
        self.ledger.record(Resource("sqs-queue", queue_url, names.queue_arn, rendering.variant.name))
        return queue_url

    def _create_table(self, rendering: Rendering, tags: dict[str, str]) -> None:
        names = rendering.names
        dynamodb = self.clients.client("dynamodb")
        table = rendering.table or {}
        self._call(
            f"create DynamoDB table {names.table}",
            lambda: dynamodb.create_table(**table, Tags=tag_list(tags)),
        )
        self.ledger.record(Resource("dynamodb-table", names.table, names.table_arn, rendering.variant.name))
        self._call(
            f"wait for DynamoDB table {names.table}",
            lambda: dynamodb.get_waiter("table_exists").wait(TableName=names.table),
        )

    def _create_function(self, spec: FunctionSpec, role_arn: str, tags: dict[str, str], variant: str) -> None:
        lambda_ = self.clients.client("lambda")
        request = spec.create_request(self.package.data, role_arn, tags)
        response = self._retry_while_role_propagates(
            f"create function {spec.name}", lambda: lambda_.create_function(**request)
        )
        self.ledger.record(Resource("lambda-function", spec.name, response["FunctionArn"], variant))
        self._call(
            f"wait for function {spec.name} to become Active",
            lambda: lambda_.get_waiter("function_active_v2").wait(FunctionName=spec.name),
        )
        if spec.reserved_concurrency is not None:
            self._call(
                f"reserve concurrency for {spec.name}",
                lambda: lambda_.put_function_concurrency(
                    FunctionName=spec.name, ReservedConcurrentExecutions=spec.reserved_concurrency
                ),
            )

    def _provision_worker(self, rendering: Rendering) -> float:
        """Publish the worker, point the alias at it, configure provisioned concurrency, wait for READY."""
        name = rendering.names.function("worker")
        requested = rendering.variant.provisioned
        lambda_ = self.clients.client("lambda")

        version = self._call(f"publish a version of {name}", lambda: lambda_.publish_version(FunctionName=name))
        self._call(
            f"create alias {ALIAS_NAME} of {name}",
            lambda: lambda_.create_alias(FunctionName=name, Name=ALIAS_NAME, FunctionVersion=version["Version"]),
        )
        provisioning = self.clients.provisioned_concurrency
        self._call(
            f"configure {requested} provisioned environments on {name}:{ALIAS_NAME}",
            lambda: provisioning.put_provisioned_concurrency_config(
                FunctionName=name, Qualifier=ALIAS_NAME, ProvisionedConcurrentExecutions=requested
            ),
        )
        self.ledger.record(
            Resource("provisioned-concurrency", name, variant=rendering.variant.name, qualifier=ALIAS_NAME)
        )
        self._wait_for_provisioned(name, requested)
        return time.time()

    def _wait_for_provisioned(self, name: str, requested: int) -> None:
        provisioning = self.clients.provisioned_concurrency
        label = f"provisioned concurrency {name}:{ALIAS_NAME}"
        deadline = time.monotonic() + PROVISIONED_READY_TIMEOUT_S
        while True:
            config = self._call(
                f"read {label}",
                lambda: provisioning.get_provisioned_concurrency_config(FunctionName=name, Qualifier=ALIAS_NAME),
            )
            allocated = config.get("AllocatedProvisionedConcurrentExecutions", 0)
            if self.progress:
                self.progress(label, allocated, requested)
            status = config.get("Status")
            if status == "READY":
                return
            if status == "FAILED":
                raise AwsBackendError(
                    f"{label} failed: {config.get('StatusReason', 'no reason given')}; "
                    "lower --provisioned or raise the account's concurrency quota"
                )
            if time.monotonic() > deadline:
                raise AwsBackendError(
                    f"{label} was not READY after {PROVISIONED_READY_TIMEOUT_S:.0f} s "
                    f"({allocated} of {requested} allocated); try again or lower --provisioned"
                )
            self.sleep(PROVISIONED_POLL_S)

    def _create_mapping(self, rendering: Rendering, tags: dict[str, str]) -> str:
        lambda_ = self.clients.client("lambda")
        request = {**(rendering.event_source_mapping or {}), "Tags": tags}
        response = self._retry_while_role_propagates(
            "create the SQS event source mapping", lambda: lambda_.create_event_source_mapping(**request)
        )
        mapping_uuid = response["UUID"]
        arn = response.get("EventSourceMappingArn")
        self.ledger.record(Resource("event-source-mapping", mapping_uuid, arn, rendering.variant.name))
        self._wait_for_mapping(mapping_uuid)
        return mapping_uuid

    def _wait_for_mapping(self, mapping_uuid: str) -> None:
        lambda_ = self.clients.client("lambda")
        deadline = time.monotonic() + MAPPING_READY_TIMEOUT_S
        while True:
            state = self._call(
                "read the event source mapping", lambda: lambda_.get_event_source_mapping(UUID=mapping_uuid)
            )["State"]
            if state == "Enabled":
                return
            if time.monotonic() > deadline:
                raise AwsBackendError(
                    f"event source mapping {mapping_uuid} is {state}, not Enabled, after "
                    f"{MAPPING_READY_TIMEOUT_S:.0f} s; check it in the Lambda console"
                )
            self.sleep(2.0)

    def _create_state_machine(self, rendering: Rendering, tags: dict[str, str]) -> str:
        names = rendering.names
        states = self.clients.client("stepfunctions")
        role_arn = rendering.states_role.arn if rendering.states_role else ""
        response = self._retry_while_role_propagates(
            f"create state machine {names.state_machine}",
            lambda: states.create_state_machine(
                name=names.state_machine,
                definition=json.dumps(rendering.definition),
                roleArn=role_arn,
                type="STANDARD",
                tags=tag_list(tags, "key", "value"),
            ),
        )
        arn = response["stateMachineArn"]
        self.ledger.record(Resource("state-machine", arn, arn, rendering.variant.name))
        return arn

    # Calls and retries

    def _call(self, what: str, call: Callable[[], T]) -> T:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call()
        except ClientError as error:
            raise AwsBackendError(f"could not {what}: {describe_client_error(error)}") from error
        except BotoCoreError as error:
            raise AwsBackendError(f"could not {what}: {error}") from error

    def _retry_while_role_propagates(self, what: str, call: Callable[[], T]) -> T:
        """Call `call`, retrying with backoff while its error shows that a new role is not usable yet."""
        from botocore.exceptions import ClientError

        delay, waited = 1.0, 0.0
        while True:
            try:
                return self._call(what, call)
            except AwsBackendError as failure:
                cause = failure.__cause__
                if not isinstance(cause, ClientError) or not is_role_propagation_error(cause):
                    raise
                if waited >= ROLE_PROPAGATION_WAIT_S:
                    raise AwsBackendError(
                        f"{failure}; the IAM role was still not usable after {waited:.0f} s"
                    ) from cause
                logger.info("%s: the new IAM role is not usable yet; retrying in %.0f s", what, delay)
                self.sleep(delay)
                waited += delay
                delay = min(delay * 2, 16.0)


def is_role_propagation_error(error: Any) -> bool:
    """Return True for the errors Lambda and Step Functions raise while a new role propagates.

    Lambda: InvalidParameterValueException "The role defined for the function
    cannot be assumed by Lambda" (CreateFunction) or "The provided execution
    role does not have permissions to call ReceiveMessage" (event source
    mappings). Step Functions: AccessDeniedException "Neither the global
    service principal states.amazonaws.com, nor the regional one is authorized
    to assume the provided role".
    """
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    message = details.get("Message", "").lower()
    return code in ("InvalidParameterValueException", "AccessDeniedException") and "role" in message
