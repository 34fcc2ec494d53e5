"""Run one repetition on deployed resources: invoke the orchestrator, wait for the end, measure."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.aws.clients import AwsClients
from bench.aws.deploy import Deployment
from bench.aws.errors import describe_client_error
from bench.aws.history import HistorySummary, fetch_history, summarize_history
from bench.aws.logs import Expectation, collect_logs
from bench.aws.measure import Observation, build_repetition
from bench.aws.naming import VariantNames
from bench.errors import AwsBackendError
from bench.results import Repetition

FIRST_POLL_S = 0.2
MAX_POLL_S = 5.0


@dataclass
class Outcome:
    """The end state of a repetition, before its logs are read."""

    status: str  # "succeeded" or "failed"
    error: str | None = None
    history: HistorySummary | None = None
    reported_sha256: str | None = None  # the digest the aggregator returned


@dataclass
class RepetitionRunner:
    """Runs the repetitions of deployed variants, reporting progress as (label, done, total)."""

    clients: AwsClients
    books: int
    expected_sha256: str
    timeout_s: float
    log_wait_s: float
    sleep: Callable[[float], None]
    progress: Callable[[str, int, int], None] | None = None
    total: int = 0
    done: int = 0

    def report(self, label: str) -> None:
        """Pass a progress label with the count of finished repetitions to the progress callback."""
        if self.progress:
            self.progress(label, self.done, self.total)

    def run(self, deployment: Deployment, index: int) -> Repetition:
        """Invoke the orchestrator, wait for the repetition to end, and measure it."""
        names, variant = deployment.rendering.names, deployment.rendering.variant
        label = f"{variant.name} repetition {index + 1}"
        self.report(f"{label}: running")
        run = {
            "run_id": names.run.run_id,
            "variant": variant.name,
            "repetition": index,
            "prefix": f"{names.key_prefix}rep-{index:04d}/",
        }

        started = time.time()
        outcome = self._execute(deployment, run, label)
        aggregate = None
        if outcome.status == "succeeded":
            aggregate, outcome.error = self._check_aggregate(names, run, outcome.reported_sha256)
            outcome.status = "succeeded" if outcome.error is None else "failed"

        succeeded = outcome.status == "succeeded"
        expectation = Expectation(aggregator=1 if succeeded else 0, worker_items=self.books if succeeded else 0)
        logs = collect_logs(self.clients, names, index, started, expectation, self.log_wait_s, self.sleep)
        provisioned_seconds = 0.0
        if deployment.provisioned_since is not None:
            # Each repetition pays for the time since the previous one ended (or since READY).
            now = time.time()
            provisioned_seconds, deployment.provisioned_since = now - deployment.provisioned_since, now

        observation = Observation(
            index=index,
            variant=variant,
            region=self.clients.region,
            started=started,
            status=outcome.status,
            error=outcome.error,
            history=outcome.history,
            logs=logs,
            aggregate_sha256=aggregate,
            provisioned_seconds=provisioned_seconds,
        )
        self.done += 1
        self.report(f"{label}: {outcome.status}")
        return build_repetition(observation)

    # Starting and waiting

    def _execute(self, deployment: Deployment, run: dict[str, Any], label: str) -> Outcome:
        names = deployment.rendering.names
        event = {"run": run, "input_key": names.input_key, "limit": self.books}
        response, failure = self._invoke(names.function("orchestrator"), event)
        if failure is not None:
            return Outcome("failed", f"orchestrator failed: {failure}")
        if deployment.rendering.variant.fan_out == "sqs":
            return self._wait_for_counter(names, run, response["items"], label)
        return self._wait_for_execution(response["execution_arn"], label)

    def _invoke(self, function: str, event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """Invoke `function` synchronously; return its response and, when it raised, its error."""
        from botocore.exceptions import ClientError

        try:
            response = self.clients.client("lambda").invoke(
                FunctionName=function, Payload=json.dumps(event).encode("utf-8")
            )
        except ClientError as error:
            raise AwsBackendError(f"could not invoke {function}: {describe_client_error(error)}") from error
        payload = json.loads(response["Payload"].read() or b"null")
        if not response.get("FunctionError"):
            return payload, None
        if isinstance(payload, dict):
            return {}, f"{payload.get('errorType', 'Error')}: {payload.get('errorMessage', payload)}"
        return {}, f"Error: {payload}"

    def _wait_for_execution(self, execution_arn: str, label: str) -> Outcome:
        states = self.clients.client("stepfunctions")
        description = self._poll(
            lambda: states.describe_execution(executionArn=execution_arn),
            lambda described: described["status"] != "RUNNING",
            label,
        )
        if description is None:
            states.stop_execution(executionArn=execution_arn, cause=f"bench timeout after {self.timeout_s:.0f} s")
            history = summarize_history(fetch_history(states, execution_arn))
            return Outcome("failed", f"timed out after {self.timeout_s:.0f} s; the execution was stopped", history)

        history = summarize_history(fetch_history(states, execution_arn))
        status = description["status"]
        if status != "SUCCEEDED":
            error = description.get("error") or history.error or status
            cause = description.get("cause") or history.cause
            message = f"execution {status}: {error}" + (f": {cause}" if cause else "")
            return Outcome("failed", message, history)
        output = json.loads(description.get("output") or "{}")
        return Outcome("succeeded", None, history, output.get("sha256"))

    def _wait_for_counter(self, names: VariantNames, run: dict[str, Any], total: int, label: str) -> Outcome:
        """Wait until the aggregator marks the repetition's DynamoDB counter with its digest."""
        dynamodb = self.clients.client("dynamodb")

        def read() -> dict[str, Any]:
            key = {"pk": {"S": run["prefix"]}}
            item = dynamodb.get_item(TableName=names.table, Key=key, ConsistentRead=True).get("Item", {})
            done = int(item.get("done", {}).get("N", "0"))
            self.report(f"{label}: {done} of {total} books")
            return item

        item = self._poll(read, lambda found: "digest" in found, label)
        if item is None:
            return Outcome("failed", f"timed out after {self.timeout_s:.0f} s waiting for the aggregator")
        return Outcome("succeeded", None, None, item["digest"]["S"])

    def _poll(self, read: Callable[[], Any], finished: Callable[[Any], bool], label: str) -> Any:
        """Call `read` with growing pauses until `finished` accepts its value; None after the timeout."""
        from botocore.exceptions import ClientError

        deadline = time.monotonic() + self.timeout_s
        delay = FIRST_POLL_S
        while True:
            try:
                value = read()
            except ClientError as error:
                raise AwsBackendError(f"{label}: {describe_client_error(error)}") from error
            if finished(value):
                return value
            if time.monotonic() >= deadline:
                return None
            self.sleep(delay)
            delay = min(delay * 2, MAX_POLL_S)

    # The aggregate

    def _check_aggregate(
        self, names: VariantNames, run: dict[str, Any], reported: str | None
    ) -> tuple[str | None, str | None]:
        """Fetch the stored summary; return its digest, and an error unless it is the expected one."""
        from botocore.exceptions import ClientError

        from variants.handlers.aggregate import aggregate_digest

        key = f"{run['prefix']}summary.json"
        try:
            body = self.clients.client("s3").get_object(Bucket=names.run.bucket, Key=key)["Body"].read()
        except ClientError as error:
            return None, f"could not fetch the summary s3://{names.run.bucket}/{key}: {describe_client_error(error)}"

        digest = aggregate_digest(json.loads(body))
        if reported is not None and digest != reported:
            return digest, f"the stored summary's SHA-256 {digest} differs from the aggregator's {reported}"
        if digest != self.expected_sha256:
            return digest, f"the aggregate's SHA-256 {digest} differs from the expected {self.expected_sha256}"
        return digest, None
