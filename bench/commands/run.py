"""`bench run` and `bench rules`: run variants on a backend and write one result file."""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from bench.options import (
    BatchSize,
    BatchThreads,
    DistributedBatchSize,
    DistributedMaxConcurrency,
    EndpointUrl,
    EsmBatchSize,
    EsmMaxConcurrency,
    MaxConcurrency,
    Profile,
    Provisioned,
    Region,
    ReservedConcurrency,
)

BACKENDS = ("sim", "aws")
DEFAULT_REGION = "us-east-1"

VariantNames = Annotated[
    Optional[list[str]],
    typer.Option("--variant", help="Variant to run (repeatable): per-book, batched, sqs, provisioned, distributed."),
]


def run(
    variant: VariantNames = None,
    all_variants: Annotated[bool, typer.Option("--all", help="Run all five variants.")] = False,
    backend: Annotated[str, typer.Option(help="Where to run: sim (offline simulator) or aws.")] = "sim",
    input_path: Annotated[
        Optional[Path], typer.Option("--input", help="Goodreads export or CSV with a Title column. Default: the bundled 565-book list.")
    ] = None,
    items: Annotated[Optional[int], typer.Option(help="Use only the first N books of the input.")] = None,
    work_seconds: Annotated[float, typer.Option(help="Worker service time per book, in seconds.")] = 3.0,
    jitter: Annotated[
        float, typer.Option(help="Variation of the service time (lognormal coefficient of variation; 0 = fixed).")
    ] = 0.05,
    account_concurrency: Annotated[int, typer.Option(help="Lambda concurrency limit of the account.")] = 1000,
    region: Region = None,
    repetitions: Annotated[int, typer.Option(help="Repetitions per variant.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same simulated results.")] = 0,
    output_dir: Annotated[Path, typer.Option(help="Folder for the result file.")] = Path("results"),
    max_concurrency: MaxConcurrency = None,
    batch_size: BatchSize = None,
    batch_threads: BatchThreads = None,
    provisioned: Provisioned = None,
    reserved_concurrency: ReservedConcurrency = None,
    esm_batch_size: EsmBatchSize = None,
    esm_max_concurrency: EsmMaxConcurrency = None,
    distributed_max_concurrency: DistributedMaxConcurrency = None,
    distributed_batch_size: DistributedBatchSize = None,
    set_rules: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override a simulator rule, NAME=VALUE (repeatable); see `bench rules`.")
    ] = None,
    rules_file: Annotated[Optional[Path], typer.Option("--rules", help="JSON file of rule overrides, {\"name\": value}.")] = None,
    profile: Profile = None,
    endpoint_url: EndpointUrl = None,
    keep: Annotated[bool, typer.Option(help="aws: keep the deployed resources after the run.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="aws: deploy without asking for confirmation.")] = False,
    timeout: Annotated[float, typer.Option(help="aws: seconds to wait for one repetition to finish.")] = 900.0,
) -> None:
    """Run fan-out variants on the same input and write one result file."""
    from bench.books import load_reading_list
    from bench.errors import InputError
    from bench.results import write_result
    from bench.runner import Knobs, RunRequest, configure_variants, run_simulation, unused_knobs
    from bench.sim.rules import AwsRules, load_rules_file, parse_assignments
    from bench.workload import Workload
    from variants import VARIANTS

    names = _variant_names(variant, all_variants, list(VARIANTS))
    if backend not in BACKENDS:
        raise InputError(f"--backend {backend!r} is not a backend; expected one of: {', '.join(BACKENDS)}")
    if repetitions < 1:
        raise InputError(f"--repetitions is {repetitions}; expected 1 or more")

    _prepare_output_dir(output_dir)

    overrides: dict[str, Any] = {"account_concurrency": account_concurrency}
    if rules_file is not None:
        overrides.update(load_rules_file(rules_file))
    overrides.update(parse_assignments(set_rules or []))
    rules = AwsRules.for_region(region or DEFAULT_REGION).with_overrides(overrides)

    request = RunRequest(
        variant_names=names,
        reading_list=load_reading_list(input_path, limit=items),
        workload=Workload(work_seconds=work_seconds, jitter=jitter),
        rules=rules,
        repetitions=repetitions,
        seed=seed,
        knobs=Knobs(
            max_concurrency=max_concurrency,
            batch_size=batch_size,
            batch_threads=batch_threads,
            provisioned=provisioned,
            reserved_concurrency=reserved_concurrency,
            esm_batch_size=esm_batch_size,
            esm_max_concurrency=esm_max_concurrency,
            distributed_max_concurrency=distributed_max_concurrency,
            distributed_batch_size=distributed_batch_size,
        ),
    )

    for warning in unused_knobs(names, request.knobs):
        typer.echo(f"warning: {warning}", err=True)

    with _progress_bar(len(names) * repetitions, backend) as progress:
        if backend == "sim":
            document = run_simulation(request, progress)
        else:
            from bench.aws.runner import run_on_aws

            document = run_on_aws(
                variants=configure_variants(names, request.knobs, rules),
                reading_list=request.reading_list,
                workload=request.workload,
                repetitions=repetitions,
                region=region or DEFAULT_REGION,
                profile=profile,
                endpoint_url=endpoint_url,
                keep=keep,
                assume_yes=yes,
                timeout_s=timeout,
                seed=seed,
                rules=rules,
                confirm=lambda message: typer.confirm(message, default=False),
                progress=progress,
            )

    path = write_result(document, output_dir)
    _print_summary(document)
    typer.echo(f"wrote {path}")

    failed = _variants_without_success(document)
    if failed:
        typer.echo(
            f"error: every repetition of {', '.join(failed)} failed; the result file records why",
            err=True,
        )
        raise typer.Exit(1)


def _prepare_output_dir(output_dir: Path) -> None:
    """Create the output folder before any work, so a bad path fails before the run, not after."""
    from bench.errors import InputError

    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(f"--output-dir {output_dir}: exists and is not a folder; choose another path")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--output-dir {output_dir}: cannot create the folder ({error.strerror}); choose another path") from None


def _variants_without_success(document: dict[str, Any]) -> list[str]:
    return [
        run["variant"]["name"]
        for run in document["variants"]
        if not any(repetition["status"] == "succeeded" for repetition in run["repetitions"])
    ]


def _variant_names(selected: list[str] | None, all_variants: bool, known: list[str]) -> list[str]:
    from bench.errors import InputError

    if all_variants and selected:
        raise InputError("use either --all or --variant NAME, not both")
    if all_variants:
        return known
    if not selected:
        raise InputError(f"name a variant with --variant NAME (one of: {', '.join(known)}) or use --all")
    return list(dict.fromkeys(selected))


class _progress_bar:
    """A progress bar on stderr for runs of more than a few repetitions, when stderr is a terminal."""

    def __init__(self, total: int, backend: str) -> None:
        self.total = total
        self.enabled = sys.stderr.isatty() and (total > 5 or backend == "aws")
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Callable[[str, int, int], None] | None:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import Progress

        self._progress = Progress(console=Console(stderr=True), transient=True)
        self._progress.start()
        self._task = self._progress.add_task("running", total=self.total)
        return self._update

    def _update(self, label: str, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=total, description=label)

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _print_summary(document: dict[str, Any]) -> None:
    from bench.summary import summary_lines

    for line in summary_lines(document):
        typer.echo(line)


def rules(
    region: Region = None,
) -> None:
    """List the simulator's AWS rules with their defaults, units and sources."""
    from tabulate import tabulate

    from bench.sim.rules import AwsRules, describe_rules

    rows = describe_rules(AwsRules.for_region(region or DEFAULT_REGION))
    table = [[row["name"], row["value"], row["unit"], row["help"], row["source"]] for row in rows]
    typer.echo(tabulate(table, headers=["rule", "value", "unit", "meaning", "source"]))


COMMANDS: dict[str, Callable[..., Any]] = {"run": run, "rules": rules}
