"""Readable messages for botocore errors, naming the IAM action to grant on AccessDenied."""

import functools
from typing import Any

# The services the backend calls, by botocore name, with the prefix of their IAM actions.
_IAM_PREFIXES = {
    "lambda": "lambda",
    "iam": "iam",
    "s3": "s3",
    "sqs": "sqs",
    "dynamodb": "dynamodb",
    "stepfunctions": "states",
    "logs": "logs",
    "sts": "sts",
    "resourcegroupstaggingapi": "tag",
}
_ACCESS_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError")


@functools.cache
def _operations(service: str) -> frozenset[str]:
    import botocore.session

    return frozenset(botocore.session.get_session().get_service_model(service).operation_names)


def iam_action(operation: str) -> str:
    """Return the IAM action of a botocore operation, such as "lambda:CreateFunction".

    Operations that several services share (TagResource, for one) resolve to the
    first service in the list above.
    """
    for service, prefix in _IAM_PREFIXES.items():
        if operation in _operations(service):
            return f"{prefix}:{operation}"
    return operation


def describe_client_error(error: Any) -> str:
    """Return "Code: message", plus the IAM action to grant when access was denied."""
    details = error.response.get("Error", {})
    code = details.get("Code", "Unknown")
    message = details.get("Message") or str(error)
    text = f"{code}: {message}"
    operation = getattr(error, "operation_name", None)
    # A role that Step Functions cannot assume yet is not a missing permission of the caller.
    if code in _ACCESS_DENIED and operation and "assume" not in message.lower():
        text += f"; grant {iam_action(operation)} to the credentials you run bench with"
    return text
