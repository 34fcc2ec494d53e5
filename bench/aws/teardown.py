"""Delete a run's AWS resources, from its ledger or found by their tags."""

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.aws.clients import AwsClients
from bench.aws.errors import describe_client_error
from bench.aws.ledger import DELETION_ORDER, Ledger, Resource
from bench.aws.naming import PROJECT_PREFIX, ROLE_PATH, TAG_RUN_ID, TAG_VARIANT
from bench.errors import AwsBackendError

logger = logging.getLogger(__name__)

# Error codes that mean the resource is already gone.
_GONE = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchEntity",
        "NoSuchBucket",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "StateMachineDoesNotExist",
        "ProvisionedConcurrencyConfigNotFoundException",
        "404",
    }
)


@dataclass
class TeardownReport:
    """The resources a teardown deleted, found already gone, or could not delete."""

    deleted: list[Resource] = field(default_factory=list)
    already_gone: list[Resource] = field(default_factory=list)
    failed: list[tuple[Resource, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when no deletion failed."""
        return not self.failed


def teardown_resources(clients: AwsClients, resources: Iterable[Resource]) -> TeardownReport:
    """Delete `resources` in the order given; a failed delete call is reported, not raised."""
    report = TeardownReport()
    for resource in resources:
        try:
            gone = _DELETERS[resource.kind](clients, resource)
        except AwsBackendError as error:
            logger.warning("could not delete %s: %s", resource.describe(), error)
            report.failed.append((resource, str(error)))
            continue
        (report.already_gone if gone else report.deleted).append(resource)
        logger.info("%s %s", "already gone:" if gone else "deleted", resource.describe())
    return report


def teardown_ledger(clients: AwsClients, ledger: Ledger) -> TeardownReport:
    """Delete every resource of a ledger, newest first; remove the ledger when all are gone."""
    report = teardown_resources(clients, list(reversed(ledger.resources)))
    if report.ok:
        ledger.remove()
        return report
    for resource in report.deleted + report.already_gone:
        ledger.record_deleted(resource)
    return report


def raise_if_failed(report: TeardownReport, run_id: str) -> None:
    """Raise AwsBackendError listing what could not be deleted."""
    if report.ok:
        return
    lines = "; ".join(f"{resource.describe()}: {reason}" for resource, reason in report.failed)
    raise AwsBackendError(
        f"teardown of run {run_id} left {len(report.failed)} resources behind ({lines}); "
        f"fix the cause and run `bench teardown {run_id}` again"
    )


# Discovery by tag


def discover_resources(clients: AwsClients, run_id: str | None = None) -> list[Resource]:
    """Find fanout-bench resources by their tags (all runs, or one run), in deletion order.

    Uses the Resource Groups Tagging API for functions, state machines, queues,
    tables, buckets and log groups; IAM roles are listed under the /fanout-bench/
    path, event source mappings from each function found.
    """
    found = _tagged_resources(clients, run_id) + _tagged_roles(clients, run_id)
    found += _untagged_log_groups(clients, run_id, {r.name for r in found if r.kind == "log-group"})
    found += _mappings_of(clients, [r for r in found if r.kind == "lambda-function"])
    return sorted(found, key=lambda resource: DELETION_ORDER.index(resource.kind))


def _tagged_resources(clients: AwsClients, run_id: str | None) -> list[Resource]:
    tagging = clients.client("resourcegroupstaggingapi")
    tag_filter: dict[str, Any] = {"Key": TAG_RUN_ID}
    if run_id:
        tag_filter["Values"] = [run_id]

    resources = []
    paginator = tagging.get_paginator("get_resources")
    pages = _guard("list tagged resources", lambda: list(paginator.paginate(TagFilters=[tag_filter])))
    for page in pages:
        for mapping in page["ResourceTagMappingList"]:
            tags = {tag["Key"]: tag["Value"] for tag in mapping.get("Tags", [])}
            resource = _resource_from_arn(clients, mapping["ResourceARN"], tags.get(TAG_VARIANT))
            if resource is not None:
                resources.append(resource)
    return resources


def _resource_from_arn(clients: AwsClients, arn: str, variant: str | None) -> Resource | None:
    parts = arn.split(":")
    service, resource = parts[2], ":".join(parts[5:])
    if service == "lambda" and resource.startswith("function:"):
        return Resource("lambda-function", resource.split(":")[1], arn, variant)
    if service == "states" and resource.startswith("stateMachine:"):
        return Resource("state-machine", arn, arn, variant)
    if service == "sqs":
        url = _guard("find the queue URL", lambda: clients.client("sqs").get_queue_url(QueueName=resource))
        return Resource("sqs-queue", url["QueueUrl"], arn, variant)
    if service == "dynamodb" and resource.startswith("table/"):
        return Resource("dynamodb-table", resource.split("/", 1)[1], arn, variant)
    if service == "s3":
        return Resource("s3-bucket", resource, arn, variant)
    if service == "logs" and resource.startswith("log-group:"):
        return Resource("log-group", resource.split(":")[1], arn, variant)
    logger.warning("ignoring tagged resource %s: not a kind fanout-bench creates", arn)
    return None


def _tagged_roles(clients: AwsClients, run_id: str | None) -> list[Resource]:
    iam = clients.client("iam")
    pages = _guard("list IAM roles", lambda: list(iam.get_paginator("list_roles").paginate(PathPrefix=ROLE_PATH)))
    roles = []
    for page in pages:
        for role in page["Roles"]:
            tags = _guard("read role tags", lambda: iam.list_role_tags(RoleName=role["RoleName"]))["Tags"]
            values = {tag["Key"]: tag["Value"] for tag in tags}
            if TAG_RUN_ID in values and (run_id is None or values[TAG_RUN_ID] == run_id):
                roles.append(Resource("iam-role", role["RoleName"], role["Arn"], values.get(TAG_VARIANT)))
    return roles


def _untagged_log_groups(clients: AwsClients, run_id: str | None, known: set[str]) -> list[Resource]:
    """Find log groups Lambda created by itself (untagged) for the run's functions."""
    prefix = f"/aws/lambda/{PROJECT_PREFIX}-" + (run_id.lower() + "-" if run_id else "")
    logs = clients.client("logs")
    pages = _guard(
        "list log groups",
        lambda: list(logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix)),
    )
    groups = [group["logGroupName"] for page in pages for group in page["logGroups"]]
    return [Resource("log-group", name) for name in groups if name not in known]


def _mappings_of(clients: AwsClients, functions: list[Resource]) -> list[Resource]:
    lambda_ = clients.client("lambda")
    mappings = []
    for function in functions:
        pages = _guard(
            f"list the event source mappings of {function.name}",
            lambda: list(
                lambda_.get_paginator("list_event_source_mappings").paginate(FunctionName=function.name)
            ),
        )
        for page in pages:
            for mapping in page["EventSourceMappings"]:
                arn = mapping.get("EventSourceMappingArn")
                mappings.append(Resource("event-source-mapping", mapping["UUID"], arn, function.variant))
    return mappings


# Deleting one resource of each kind. Each returns True when the resource was already gone.


def _guard(what: str, call: Callable[[], Any]) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call()
    except ClientError as error:
        raise AwsBackendError(f"could not {what}: {describe_client_error(error)}") from error
    except BotoCoreError as error:
        raise AwsBackendError(f"could not {what}: {error}") from error


def _delete(what: str, call: Callable[[], Any]) -> bool:
    try:
        _guard(what, call)
    except AwsBackendError as failure:
        if _is_gone(failure.__cause__):
            return True
        raise
    return False


def _is_gone(error: BaseException | None) -> bool:
    """Return True when `error` is a ClientError whose code or message means the resource does not exist."""
    from botocore.exceptions import ClientError

    if not isinstance(error, ClientError):
        return False
    details = error.response.get("Error", {})
    message = str(details.get("Message", "")).lower()
    return str(details.get("Code", "")) in _GONE or "does not exist" in message or "not found" in message


def _delete_state_machine(clients: AwsClients, resource: Resource) -> bool:
    states = clients.client("stepfunctions")
    paginator = states.get_paginator("list_executions")
    try:
        pages = _guard(
            f"list the running executions of {resource.name}",
            lambda: list(paginator.paginate(stateMachineArn=resource.name, statusFilter="RUNNING")),
        )
    except AwsBackendError as failure:
        if _is_gone(failure.__cause__):
            return True
        raise
    for execution in (execution for page in pages for execution in page["executions"]):
        _delete(
            f"stop execution {execution['executionArn']}",
            lambda: states.stop_execution(executionArn=execution["executionArn"], cause="bench teardown"),
        )
    return _delete(
        f"delete state machine {resource.name}", lambda: states.delete_state_machine(stateMachineArn=resource.name)
    )


def _delete_mapping(clients: AwsClients, resource: Resource) -> bool:
    lambda_ = clients.client("lambda")
    return _delete(
        f"delete event source mapping {resource.name}",
        lambda: lambda_.delete_event_source_mapping(UUID=resource.name),
    )


def _delete_provisioned(clients: AwsClients, resource: Resource) -> bool:
    provisioning = clients.provisioned_concurrency
    return _delete(
        f"delete provisioned concurrency of {resource.name}:{resource.qualifier}",
        lambda: provisioning.delete_provisioned_concurrency_config(
            FunctionName=resource.name, Qualifier=resource.qualifier
        ),
    )


def _delete_function(clients: AwsClients, resource: Resource) -> bool:
    lambda_ = clients.client("lambda")
    return _delete(f"delete function {resource.name}", lambda: lambda_.delete_function(FunctionName=resource.name))


def _delete_table(clients: AwsClients, resource: Resource) -> bool:
    dynamodb = clients.client("dynamodb")
    return _delete(f"delete table {resource.name}", lambda: dynamodb.delete_table(TableName=resource.name))


def _delete_queue(clients: AwsClients, resource: Resource) -> bool:
    sqs = clients.client("sqs")
    return _delete(f"delete queue {resource.name}", lambda: sqs.delete_queue(QueueUrl=resource.name))


def _delete_role(clients: AwsClients, resource: Resource) -> bool:
    iam = clients.client("iam")
    name = resource.name
    try:
        policies = _guard(f"list the policies of role {name}", lambda: iam.list_role_policies(RoleName=name))
        attached = _guard(
            f"list the attached policies of role {name}", lambda: iam.list_attached_role_policies(RoleName=name)
        )
    except AwsBackendError as failure:
        if _is_gone(failure.__cause__):
            return True
        raise
    for policy in policies["PolicyNames"]:
        _delete(
            f"delete policy {policy} of role {name}",
            lambda: iam.delete_role_policy(RoleName=name, PolicyName=policy),
        )
    for policy in attached["AttachedPolicies"]:
        _delete(
            f"detach policy {policy['PolicyArn']} from role {name}",
            lambda: iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"]),
        )
    return _delete(f"delete role {name}", lambda: iam.delete_role(RoleName=name))


def _delete_log_group(clients: AwsClients, resource: Resource) -> bool:
    logs = clients.client("logs")
    return _delete(f"delete log group {resource.name}", lambda: logs.delete_log_group(logGroupName=resource.name))


# Waits before emptying a bucket again when DeleteBucket reports BucketNotEmpty. StopExecution
# does not stop a Lambda invocation already running, so a worker of a stopped execution can
# still write its results after the bucket was emptied.
BUCKET_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


def _delete_bucket(clients: AwsClients, resource: Resource) -> bool:
    for delay in (*BUCKET_RETRY_DELAYS_S, None):
        try:
            return _empty_and_delete_bucket(clients, resource.name)
        except AwsBackendError as failure:
            if delay is None or _error_code(failure.__cause__) != "BucketNotEmpty":
                raise
            logger.info("bucket %s received new objects while being emptied; retrying in %s s", resource.name, delay)
            time.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _empty_and_delete_bucket(clients: AwsClients, bucket: str) -> bool:
    s3 = clients.client("s3")
    try:
        pages = _guard(
            f"list the objects of bucket {bucket}",
            lambda: list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket)),
        )
    except AwsBackendError as failure:
        if _is_gone(failure.__cause__):
            return True
        raise
    for page in pages:
        # DeleteObjects takes at most 1,000 keys, and a listing page returns up to 1,000 versions
        # plus 1,000 delete markers. Source: Amazon S3 API reference, DeleteObjects.
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        targets = [{"Key": entry["Key"], "VersionId": entry["VersionId"]} for entry in entries]
        for start in range(0, len(targets), 1000):
            chunk = targets[start : start + 1000]
            _guard(
                f"empty bucket {bucket}",
                lambda: s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True}),
            )
    return _delete(f"delete bucket {bucket}", lambda: s3.delete_bucket(Bucket=bucket))


def _error_code(error: BaseException | None) -> str | None:
    from botocore.exceptions import ClientError

    return str(error.response.get("Error", {}).get("Code")) if isinstance(error, ClientError) else None


_DELETERS: dict[str, Callable[[AwsClients, Resource], bool]] = {
    "state-machine": _delete_state_machine,
    "event-source-mapping": _delete_mapping,
    "provisioned-concurrency": _delete_provisioned,
    "lambda-function": _delete_function,
    "dynamodb-table": _delete_table,
    "sqs-queue": _delete_queue,
    "iam-role": _delete_role,
    "log-group": _delete_log_group,
    "s3-bucket": _delete_bucket,
}
