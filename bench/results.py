"""Versioned result files: build, write atomically, read back and flatten to pandas.

A result file is one JSON document per `bench run`. Its top level records how
the run was made: tool, backend, region, model parameters and input checksum.
Its "variants" list contains one entry per variant, with that variant's
description and its repetitions. Per-invocation records are stored column-wise (one list per
field) so a 100,000-item run stays small and loads straight into a DataFrame.
"""

import json
import os
import platform
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import __version__
from bench.errors import ResultFileError

if TYPE_CHECKING:
    import pandas as pd

FORMAT_NAME = "fanout-bench-result"
FORMAT_VERSION = 1
RESULT_SUFFIX = ".json"

# Fields of a per-invocation record, in the order they are stored.
INVOCATION_FIELDS = (
    "function",  # "orchestrator", "worker" or "aggregator"
    "start",  # seconds since the repetition started
    "end",
    "init_s",  # init (cold start) duration in seconds, 0 when warm
    "cold",  # True when the invocation paid an init
    "billed_ms",  # billed duration in milliseconds, init included when billed
    "items",  # items processed by this invocation
    "environment",  # id of the execution environment that ran it
    "provisioned",  # True when a provisioned environment ran it
)

STAGES = ("orchestrator", "map", "aggregator")


@dataclass
class Repetition:
    """The measurements of one repetition of one variant."""

    index: int
    status: str  # "succeeded" or "failed"
    stages: dict[str, tuple[float, float]]  # stage -> (start, end) in seconds
    invocations: list[dict[str, Any]]
    counters: dict[str, int]
    cost_usd: dict[str, float]
    aggregate_sha256: str | None
    error: str | None = None
    partial: bool = False
    limits: dict[str, float] = field(default_factory=dict)  # limit -> item-seconds held back

    @property
    def total_s(self) -> float:
        """Return the time from the orchestrator's start to the aggregator's end."""
        starts = [window[0] for window in self.stages.values()]
        ends = [window[1] for window in self.stages.values()]
        return max(ends) - min(starts) if starts else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the repetition as JSON-ready data, invocations stored column-wise."""
        columns = {name: [record[name] for record in self.invocations] for name in INVOCATION_FIELDS}
        return {
            "index": self.index,
            "status": self.status,
            "error": self.error,
            "partial": self.partial,
            "stages": {name: {"start": start, "end": end} for name, (start, end) in self.stages.items()},
            "total_s": self.total_s,
            "invocations": columns,
            "counters": dict(self.counters),
            "cost_usd": dict(self.cost_usd),
            "aggregate_sha256": self.aggregate_sha256,
            "limits": dict(self.limits),
        }


def new_run_id(now: datetime | None = None) -> str:
    """Return a sortable, unique run id such as 20261204T201500Z-3f9a1c."""
    moment = now or datetime.now(timezone.utc)
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def git_commit() -> str | None:
    """Return the commit of the source tree bench was imported from, if it is a git checkout."""
    source_dir = Path(__file__).resolve().parent
    try:
        completed = subprocess.run(
            ["git", "-C", str(source_dir), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() or None if completed.returncode == 0 else None


def machine_info() -> dict[str, Any]:
    """Return the machine facts recorded with every run."""
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


def build_document(
    *,
    run_id: str,
    backend: str,
    region: str,
    parameters: dict[str, Any],
    input_info: dict[str, Any],
    variant_runs: list[dict[str, Any]],
    environment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a complete result document.

    `variant_runs` contains one {"variant": Variant.to_dict(), "repetitions":
    [Repetition.to_dict(), ...]} entry per variant. `environment` carries
    backend facts such as the AWS account id and endpoint (never credentials).
    """
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "run_id": run_id,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tool": {"name": "fanout-bench", "version": __version__, "git_commit": git_commit()},
        "machine": machine_info(),
        "backend": backend,
        "region": region,
        "environment": environment or {},
        "parameters": parameters,
        "input": input_info,
        "variants": variant_runs,
    }


def write_result(document: dict[str, Any], output_dir: Path) -> Path:
    """Write `document` atomically into `output_dir` and return the new file's path.

    The file is written to a temporary name, flushed and fsynced, then linked
    to its final name. os.link fails when the name exists, so an existing file
    is never replaced, even by a concurrent run with the same id.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{document['run_id']}{RESULT_SUFFIX}"
    payload = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")

    handle, temp_name = tempfile.mkstemp(prefix=".partial-", suffix=RESULT_SUFFIX, dir=output_dir)
    try:
        # mkstemp creates the file readable by its owner only; give it the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(handle, 0o666 & ~umask)
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            os.link(temp_name, target)
        except FileExistsError:
            raise ResultFileError(f"{target}: a result file with this run id exists; it was left untouched") from None
    finally:
        os.unlink(temp_name)
    return target


def read_result(path: Path) -> dict[str, Any]:
    """Read and validate one result file; raise ResultFileError naming the file."""
    try:
        document = json.loads(path.read_bytes())
    except OSError as error:
        raise ResultFileError(f"{path}: cannot read result file: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultFileError(
            f"{path}: not a valid result file ({error}); delete it or move it out of the results folder"
        ) from None

    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise ResultFileError(f"{path}: not a fanout-bench result file (no \"format\": \"{FORMAT_NAME}\" field)")
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise ResultFileError(
            f"{path}: result format version {version!r} is not supported by fanout-bench {__version__}, "
            f"which reads version {FORMAT_VERSION}; use the fanout-bench release that wrote it"
        )
    return document


# Folders a recursive search skips: the committed CI baseline would otherwise be pooled with
# fresh runs. Naming such a folder (or a file in it) explicitly still reads it.
SKIPPED_FOLDERS = ("baseline",)


def find_result_files(paths: list[Path]) -> list[Path]:
    """Return every result file at or below `paths`, sorted; raise if there is none.

    A search below a folder skips subfolders named in SKIPPED_FOLDERS.
    """
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise ResultFileError(f"{path}: no such file or folder")
        if path.is_file():
            found.append(path)
            continue
        found.extend(
            candidate
            for candidate in path.rglob(f"*{RESULT_SUFFIX}")
            if candidate.is_file()
            and not candidate.name.startswith(".partial-")
            and not _in_skipped_folder(candidate.relative_to(path))
        )
    if not found:
        shown = ", ".join(str(path) for path in paths)
        raise ResultFileError(f"{shown}: no result files (*{RESULT_SUFFIX}) found; run `bench run` first")
    return sorted(set(found))


def _in_skipped_folder(relative: Path) -> bool:
    return any(part in SKIPPED_FOLDERS for part in relative.parts[:-1])


def iter_documents(paths: list[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Yield (path, document) for every result file under `paths`."""
    for path in find_result_files(paths):
        yield path, read_result(path)


def repetition_rows(path: Path, document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield one flat row per repetition of every variant in `document`."""
    for variant_run in document["variants"]:
        variant = variant_run["variant"]
        for repetition in variant_run["repetitions"]:
            yield _repetition_row(path, document, variant, repetition)


def _repetition_row(
    path: Path, document: dict[str, Any], variant: dict[str, Any], repetition: dict[str, Any]
) -> dict[str, Any]:
    stages = repetition["stages"]
    invocations = repetition["invocations"]
    workers = [index for index, name in enumerate(invocations["function"]) if name == "worker"]
    row: dict[str, Any] = {
        "file": str(path),
        "run_id": document["run_id"],
        "created_utc": document["created_utc"],
        "backend": document["backend"],
        "region": document["region"],
        "input_sha256": document["input"].get("sha256"),
        "items": document["input"].get("items"),
        "variant": variant["name"],
        "repetition": repetition["index"],
        "status": repetition["status"],
        "partial": repetition.get("partial", False),
        "total_s": repetition["total_s"],
        "peak_concurrency": peak_concurrency(
            [invocations["start"][i] for i in workers], [invocations["end"][i] for i in workers]
        ),
        "cold_starts": sum(1 for cold in invocations["cold"] if cold),
        "invocations": len(invocations["function"]),
        "cost_usd": repetition["cost_usd"].get("total", 0.0),
        "aggregate_sha256": repetition["aggregate_sha256"],
    }
    for stage in STAGES:
        window = stages.get(stage)
        row[f"{stage}_s"] = window["end"] - window["start"] if window else float("nan")
    for name, value in repetition["counters"].items():
        row[f"counter_{name}"] = value
    return row


def peak_concurrency(starts: list[float], ends: list[float]) -> int:
    """Return the largest number of intervals [start, end) open at one instant."""
    events = sorted([(end, -1) for end in ends] + [(start, 1) for start in starts])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def load_results(paths: list[Path] | Path) -> "pd.DataFrame":
    """Load every result file under `paths` into one DataFrame, one row per repetition.

    Raises ResultFileError when no file is found or a file is corrupt or of an
    unknown version.
    """
    import pandas as pd

    path_list = [paths] if isinstance(paths, Path) else list(paths)
    rows = [row for path, document in iter_documents(path_list) for row in repetition_rows(path, document)]
    return pd.DataFrame(rows)
