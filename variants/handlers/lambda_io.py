"""Lambda-side plumbing shared by the entry points: settings, AWS clients and the timing line.

Stdlib and boto3 only (boto3 ships with the Lambda Python runtime). Each
invocation logs exactly one JSON line on stdout, the timing line, which the
harness reads back from CloudWatch Logs and joins with Lambda's REPORT line by
request id.
"""

import functools
import json
import logging
import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from types import TracebackType
from typing import Any

TIMING_LOGGER = "fanout_bench.timing"
TIMING_MARKER = "fanout_bench_timing"
TIMING_VERSION = 1

# One id per loaded copy of this module, that is per execution environment.
ENVIRONMENT_ID = uuid.uuid4().hex[:12]
# "on-demand", "provisioned-concurrency" or "snap-start". Source: AWS Lambda developer
# guide, defined runtime environment variables.
INITIALIZATION_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")

_timing_log = logging.getLogger(TIMING_LOGGER)
_timing_log.setLevel(logging.INFO)
_timing_log.propagate = False
if not _timing_log.handlers:
    _stdout = logging.StreamHandler(sys.stdout)
    _stdout.setFormatter(logging.Formatter("%(message)s"))
    _timing_log.addHandler(_stdout)

_environment_invocations = 0


@dataclass(frozen=True)
class Settings:
    """The variant's settings, read from the environment variables the deployer sets."""

    run_id: str
    variant: str
    fan_out: str
    bucket: str
    batch_size: int
    batch_threads: int
    work_seconds: float
    jitter: float
    seed: int
    state_machine_arn: str | None
    table: str | None
    aggregator: str | None
    queue_name: str | None

    @classmethod
    def from_environment(cls) -> "Settings":
        """Read the settings from os.environ; raise KeyError naming a missing variable."""
        env = os.environ
        return cls(
            run_id=env["FANOUT_RUN_ID"],
            variant=env["FANOUT_VARIANT"],
            fan_out=env["FANOUT_FAN_OUT"],
            bucket=env["FANOUT_BUCKET"],
            batch_size=int(env["FANOUT_BATCH_SIZE"]),
            batch_threads=int(env["FANOUT_BATCH_THREADS"]),
            work_seconds=float(env["FANOUT_WORK_SECONDS"]),
            jitter=float(env["FANOUT_JITTER"]),
            seed=int(env["FANOUT_SEED"]),
            state_machine_arn=env.get("FANOUT_STATE_MACHINE_ARN"),
            table=env.get("FANOUT_TABLE"),
            aggregator=env.get("FANOUT_AGGREGATOR"),
            queue_name=env.get("FANOUT_QUEUE_NAME"),
        )


@functools.cache
def client(service: str) -> Any:
    """Return a boto3 client, created once per execution environment."""
    import boto3

    return boto3.client(service)


def canonical_json(value: Any) -> bytes:
    """Return `value` as compact UTF-8 JSON with sorted keys, the form the aggregate digest hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Invocation:
    """Times one handler invocation, counts its AWS requests and logs its timing line on exit.

    The line is logged when the handler raises too, with the exception in "error".
    """

    def __init__(self, function: str, context: Any, run: dict[str, Any] | None = None) -> None:
        self.function = function
        self.request_id = getattr(context, "aws_request_id", "")
        self.run = run or {}
        self.items = 0
        self.calls: Counter[str] = Counter()
        self.extra: dict[str, Any] = {}
        self.start = 0.0

    def __enter__(self) -> "Invocation":
        global _environment_invocations
        _environment_invocations += 1
        self.cold = _environment_invocations == 1 and INITIALIZATION_TYPE == "on-demand"
        self.start = time.time()
        return self

    def count(self, request: str, amount: int = 1) -> None:
        """Count `amount` requests of one kind, such as "s3_get" or "sqs_units"."""
        self.calls[request] += amount

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        line = {
            TIMING_MARKER: TIMING_VERSION,
            "function": self.function,
            "request_id": self.request_id,
            "environment": ENVIRONMENT_ID,
            "initialization_type": INITIALIZATION_TYPE,
            "cold": self.cold,
            "start": self.start,
            "end": time.time(),
            "items": self.items,
            "run_id": self.run.get("run_id"),
            "repetition": self.run.get("repetition"),
            "calls": dict(sorted(self.calls.items())),
            "error": f"{kind.__name__}: {error}" if kind is not None else None,
            **self.extra,
        }
        _timing_log.info(json.dumps(line, sort_keys=True, separators=(",", ":")))
