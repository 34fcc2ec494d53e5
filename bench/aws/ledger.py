"""The ledger: a JSON Lines file that records each AWS resource the moment it is created.

If `bench` crashes or is killed mid-run, `bench teardown RUN_ID` reads the
ledger to delete what the run left behind. The first line describes the run
(Region, endpoint, account); each further line records one resource as
created ("resource") or as deleted ("deleted").
"""

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.errors import AwsBackendError, InputError

logger = logging.getLogger(__name__)

LEDGER_SUFFIX = ".jsonl"
LEDGER_DIR_ENV = "FANOUT_BENCH_STATE_DIR"

# Resource kinds, in the order teardown deletes them when their creation order is unknown.
DELETION_ORDER = (
    "state-machine",
    "event-source-mapping",
    "provisioned-concurrency",
    "lambda-function",
    "dynamodb-table",
    "sqs-queue",
    "iam-role",
    "log-group",
    "s3-bucket",
)


@dataclass(frozen=True)
class Resource:
    """One AWS resource of a run; `name` is what the delete call takes (a name, URL or UUID)."""

    kind: str
    name: str
    arn: str | None = None
    variant: str | None = None
    qualifier: str | None = None  # the alias of a provisioned-concurrency configuration

    def describe(self) -> str:
        """Return a one-line description for messages, such as "lambda-function my-fn"."""
        suffix = f":{self.qualifier}" if self.qualifier else ""
        return f"{self.kind} {self.name}{suffix}"


@dataclass(frozen=True)
class RunInfo:
    """The Region, account and endpoint of a run: enough to reconnect and delete its resources."""

    run_id: str
    region: str
    account_id: str
    endpoint_url: str | None = None


def default_ledger_dir() -> Path:
    """Return the folder of ledger files: $FANOUT_BENCH_STATE_DIR or ~/.local/state/fanout-bench/runs."""
    configured = os.environ.get(LEDGER_DIR_ENV)
    if configured:
        return Path(configured)
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "fanout-bench" / "runs"


class Ledger:
    """An append-only record of the resources of one run, fsynced after every line."""

    def __init__(self, path: Path, run: RunInfo, resources: list[Resource] | None = None) -> None:
        self.path = path
        self.run = run
        self.resources: list[Resource] = list(resources or [])

    @classmethod
    def create(cls, directory: Path, run: RunInfo) -> "Ledger":
        """Start the ledger of a new run; raise if one exists for the same run id."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{run.run_id}{LEDGER_SUFFIX}"
        try:
            with path.open("x", encoding="utf-8") as stream:
                _append_line(stream, {"run": asdict(run)})
        except FileExistsError:
            raise AwsBackendError(f"{path}: a ledger for run {run.run_id} exists; tear that run down first") from None
        return cls(path, run)

    @classmethod
    def open(cls, path: Path) -> "Ledger":
        """Read an existing ledger; raise InputError naming the file when it is unreadable."""
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise InputError(f"{path}: no ledger found; pass --all to search by tag instead") from None
        except OSError as error:
            raise InputError(f"{path}: cannot read the ledger: {error.strerror}") from None

        # A crash while appending can leave a partial last line. Its resource may exist;
        # `bench teardown --all` still finds it by its tags.
        if lines and not _is_complete(lines[-1]):
            logger.warning(
                "%s: ignoring an incomplete last line %r; run `bench teardown --all` to find its resource by tag",
                path,
                lines[-1][:80],
            )
            lines = lines[:-1]
        records = [_parse_line(path, number, line) for number, line in enumerate(lines, start=1) if line.strip()]
        if not records or "run" not in records[0]:
            raise InputError(f"{path}: not a fanout-bench ledger (the first line has no \"run\" record)")
        run = RunInfo(**records[0]["run"])
        resources = [Resource(**record["resource"]) for record in records[1:] if "resource" in record]
        deleted = [Resource(**record["deleted"]) for record in records[1:] if "deleted" in record]
        return cls(path, run, [resource for resource in resources if resource not in deleted])

    def record(self, resource: Resource) -> None:
        """Append `resource` to the ledger and flush it to disk before returning."""
        with self.path.open("a", encoding="utf-8") as stream:
            _append_line(stream, {"resource": asdict(resource)})
        self.resources.append(resource)

    def record_deleted(self, resource: Resource) -> None:
        """Append that `resource` is gone, so a later teardown skips it."""
        with self.path.open("a", encoding="utf-8") as stream:
            _append_line(stream, {"deleted": asdict(resource)})
        self.resources = [known for known in self.resources if known != resource]

    def remove(self) -> None:
        """Delete the ledger file once every resource in it is gone."""
        self.path.unlink(missing_ok=True)


def _append_line(stream: Any, record: dict[str, Any]) -> None:
    stream.write(json.dumps(record, sort_keys=True) + "\n")
    stream.flush()
    os.fsync(stream.fileno())


def _is_complete(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def _parse_line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(f"{path} line {number}: not valid JSON ({error.msg}); the ledger is damaged") from None
    if not isinstance(record, dict):
        raise InputError(f"{path} line {number}: expected a JSON object; the ledger is damaged")
    return record


def find_ledger(directory: Path, run_id: str) -> Path:
    """Return the path the ledger of `run_id` has in `directory`."""
    return directory / f"{run_id}{LEDGER_SUFFIX}"


def list_ledgers(directory: Path) -> list[Path]:
    """Return every ledger file in `directory`, oldest run first."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f"*{LEDGER_SUFFIX}"))
