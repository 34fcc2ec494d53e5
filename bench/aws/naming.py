"""Names, ARNs and tags of the AWS resources one run creates, derived from the run id."""

import re
from dataclasses import dataclass

from bench.errors import InputError

PROJECT_PREFIX = "fanout-bench"
TAG_RUN_ID = "fanout-bench:run-id"
TAG_VARIANT = "fanout-bench:variant"
# Every role the backend creates lives under this IAM path, so teardown can list them.
ROLE_PATH = f"/{PROJECT_PREFIX}/"
# The worker alias that carries provisioned concurrency.
ALIAS_NAME = "live"
FUNCTION_ROLES = ("orchestrator", "worker", "aggregator")

# Lambda function and IAM role names are limited to 64 characters, S3 bucket names to 63.
# Sources: AWS Lambda API reference, CreateFunction; IAM user guide, IAM quotas;
# Amazon S3 user guide, bucket naming rules.
MAX_FUNCTION_NAME = 64
MAX_ROLE_NAME = 64
MAX_BUCKET_NAME = 63

_RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")


def partition_for(region: str) -> str:
    """Return the AWS partition of `region` ("aws", "aws-cn" or "aws-us-gov")."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass(frozen=True)
class RunNames:
    """The names one run shares across its variants: the prefix and the bucket."""

    run_id: str
    region: str
    account_id: str

    def __post_init__(self) -> None:
        if not _RUN_ID_PATTERN.match(self.run_id):
            raise InputError(
                f"run id {self.run_id!r} is invalid; expected letters, digits and hyphens, "
                "such as 20261204T201500Z-3f9a1c"
            )
        if len(self.bucket) > MAX_BUCKET_NAME:
            raise InputError(
                f"run id {self.run_id!r} is too long: the bucket name {self.bucket!r} exceeds "
                f"{MAX_BUCKET_NAME} characters; use a run id of at most 30 characters"
            )

    @property
    def partition(self) -> str:
        """Return the partition of the run's Region."""
        return partition_for(self.region)

    @property
    def prefix(self) -> str:
        """Return the lowercase prefix every resource name of the run starts with."""
        return f"{PROJECT_PREFIX}-{self.run_id.lower()}"

    @property
    def bucket(self) -> str:
        """Return the name of the run's S3 bucket."""
        return self.prefix

    @property
    def bucket_arn(self) -> str:
        """Return the ARN of the run's S3 bucket."""
        return f"arn:{self.partition}:s3:::{self.bucket}"

    def for_variant(self, variant: str) -> "VariantNames":
        """Return the names of the resources of one variant in this run."""
        return VariantNames(self, variant)


@dataclass(frozen=True)
class VariantNames:
    """The names and ARNs of one variant's resources in a run."""

    run: RunNames
    variant: str

    def __post_init__(self) -> None:
        longest = max(
            [self.function(role) for role in FUNCTION_ROLES] + [self.lambda_role, self.states_role], key=len
        )
        if len(longest) > MAX_FUNCTION_NAME:
            raise InputError(
                f"resource name {longest!r} exceeds {MAX_FUNCTION_NAME} characters; "
                "use a shorter run id or variant name"
            )

    @property
    def base(self) -> str:
        """Return the prefix of this variant's resource names."""
        return f"{self.run.prefix}-{self.variant}"

    @property
    def key_prefix(self) -> str:
        """Return the S3 key prefix under which this variant keeps its objects."""
        return f"{self.variant}/"

    @property
    def input_key(self) -> str:
        """Return the S3 key of the uploaded input CSV."""
        return f"{self.key_prefix}input/reading_list.csv"

    def tags(self) -> dict[str, str]:
        """Return the tags every resource of this variant carries."""
        return {TAG_RUN_ID: self.run.run_id, TAG_VARIANT: self.variant}

    def _arn(self, service: str, resource: str, regional: bool = True) -> str:
        region = self.run.region if regional else ""
        account = self.run.account_id
        return f"arn:{self.run.partition}:{service}:{region}:{account}:{resource}"

    def function(self, role: str) -> str:
        """Return the name of the orchestrator, worker or aggregator function."""
        return f"{self.base}-{role}"

    def function_arn(self, role: str) -> str:
        """Return the unqualified ARN of one of the three functions."""
        return self._arn("lambda", f"function:{self.function(role)}")

    def log_group(self, role: str) -> str:
        """Return the log group Lambda writes the function's logs to."""
        return f"/aws/lambda/{self.function(role)}"

    def log_group_arn(self, role: str) -> str:
        """Return the ARN of the function's log group, covering its log streams."""
        return self._arn("logs", f"log-group:{self.log_group(role)}:*")

    @property
    def lambda_role(self) -> str:
        """Return the name of the functions' execution role."""
        return f"{self.base}-lambda"

    @property
    def lambda_role_arn(self) -> str:
        """Return the ARN of the functions' execution role."""
        return self._arn("iam", f"role{ROLE_PATH}{self.lambda_role}", regional=False)

    @property
    def states_role(self) -> str:
        """Return the name of the state machine's execution role."""
        return f"{self.base}-states"

    @property
    def states_role_arn(self) -> str:
        """Return the ARN of the state machine's execution role."""
        return self._arn("iam", f"role{ROLE_PATH}{self.states_role}", regional=False)

    @property
    def state_machine(self) -> str:
        """Return the name of the Standard state machine."""
        return f"{self.base}-pipeline"

    @property
    def state_machine_arn(self) -> str:
        """Return the ARN of the Standard state machine."""
        return self._arn("states", f"stateMachine:{self.state_machine}")

    @property
    def execution_arns(self) -> list[str]:
        """Return ARN patterns covering the state machine's executions and Map Run children."""
        return [
            self._arn("states", f"execution:{self.state_machine}:*"),
            self._arn("states", f"execution:{self.state_machine}/*"),
        ]

    @property
    def queue(self) -> str:
        """Return the name of the SQS queue."""
        return f"{self.base}-queue"

    @property
    def queue_arn(self) -> str:
        """Return the ARN of the SQS queue."""
        return self._arn("sqs", self.queue)

    @property
    def table(self) -> str:
        """Return the name of the DynamoDB completion-counter table."""
        return f"{self.base}-progress"

    @property
    def table_arn(self) -> str:
        """Return the ARN of the DynamoDB completion-counter table."""
        return self._arn("dynamodb", f"table/{self.table}")
