"""`bench teardown` and `bench render`: remove a run's AWS resources, or write a variant's definitions."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from bench.options import (
    AwsRegion,
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
    ReservedConcurrency,
)

# The example account id of the AWS documentation, used in rendered ARNs when none is given.
EXAMPLE_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"


RunId = Annotated[
    Optional[str],
    typer.Argument(help="Id of the run to tear down: its result file's name without .json."),
]
AllRuns = Annotated[
    bool,
    typer.Option("--all", help="Delete every fanout-bench resource in the Region, from any run, found by tag."),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="List the resources that would be deleted; delete nothing.")]
VariantName = Annotated[
    str, typer.Option("--variant", help="Variant to render: per-book, batched, sqs, provisioned, distributed.")
]
OutDir = Annotated[Path, typer.Option("--out", help="Folder to write the definition, IAM policies and plan to.")]
RenderRegion = Annotated[
    Optional[str], typer.Option("--region", help="AWS Region to put in ARNs and names (default us-east-1).")
]
AccountId = Annotated[str, typer.Option("--account-id", help="AWS account id to put in ARNs.")]
RenderRunId = Annotated[str, typer.Option("--run-id", help="Run id to put in resource names.")]
WorkSeconds = Annotated[
    float, typer.Option(help="Worker service time per book, in seconds; sets the worker's timeout.")
]
Jitter = Annotated[float, typer.Option(help="Variation of the service time (lognormal coefficient of variation).")]


def teardown(
    run_id: RunId = None,
    all_runs: AllRuns = False,
    dry_run: DryRun = False,
    region: AwsRegion = None,
    profile: Profile = None,
    endpoint_url: EndpointUrl = None,
) -> None:
    """Delete the AWS resources of a run (from its ledger and its tags), or of every run with --all."""
    from bench.aws.clients import connect
    from bench.aws.teardown import raise_if_failed, teardown_resources
    from bench.errors import InputError

    if all_runs == (run_id is not None):
        raise InputError("name one run id, or pass --all to delete the resources of every run")

    ledger, resources_region = _ledger_and_region(run_id, region)
    clients = connect(resources_region, profile, endpoint_url or (ledger.run.endpoint_url if ledger else None))
    resources = _resources_to_delete(clients, ledger, run_id)
    label = run_id or "all runs"
    if not resources:
        typer.echo(f"nothing to delete for {label} in {clients.region}")
        if ledger is not None and not dry_run:
            ledger.remove()
        return
    if dry_run:
        for resource in resources:
            typer.echo(f"would delete {resource.describe()}")
        return

    report = teardown_resources(clients, resources)
    for resource in report.deleted:
        typer.echo(f"deleted {resource.describe()}")
    if ledger is not None and report.ok:
        ledger.remove()
    raise_if_failed(report, run_id or "--all")
    typer.echo(f"{label}: deleted {len(report.deleted)} resources, {len(report.already_gone)} were already gone")


def _ledger_and_region(run_id: str | None, region: str | None) -> tuple[Any, str | None]:
    """Return the run's ledger (None when there is none) and the Region to search."""
    from bench.aws.ledger import Ledger, default_ledger_dir, find_ledger

    if run_id is None:
        return None, region
    path = find_ledger(default_ledger_dir(), run_id)
    if not path.exists():
        return None, region
    ledger = Ledger.open(path)
    return ledger, region or ledger.run.region


def _resources_to_delete(clients: Any, ledger: Any, run_id: str | None) -> list[Any]:
    """Return the ledger's resources, newest first, then any tagged ones the ledger missed."""
    from bench.aws.teardown import discover_resources

    from_ledger = list(reversed(ledger.resources)) if ledger is not None else []
    known = {(resource.kind, resource.name) for resource in from_ledger}
    discovered = [r for r in discover_resources(clients, run_id) if (r.kind, r.name) not in known]
    return from_ledger + discovered


def render(
    variant: VariantName,
    out: OutDir,
    region: RenderRegion = None,
    account_id: AccountId = EXAMPLE_ACCOUNT_ID,
    run_id: RenderRunId = "example",
    work_seconds: WorkSeconds = 3.0,
    jitter: Jitter = 0.05,
    max_concurrency: MaxConcurrency = None,
    batch_size: BatchSize = None,
    batch_threads: BatchThreads = None,
    provisioned: Provisioned = None,
    reserved_concurrency: ReservedConcurrency = None,
    esm_batch_size: EsmBatchSize = None,
    esm_max_concurrency: EsmMaxConcurrency = None,
    distributed_max_concurrency: DistributedMaxConcurrency = None,
    distributed_batch_size: DistributedBatchSize = None,
) -> None:
    """Write a variant's state machine definition, IAM policies and resource plan, without calling AWS.

    The variant knobs are those of `bench run`, so the files show exactly what
    `bench run --backend aws` with the same options deploys.
    """
    from bench.aws.naming import RunNames
    from bench.aws.render import render as render_variant
    from bench.aws.render import write_rendering
    from bench.runner import Knobs, configure_variants, unused_knobs
    from bench.sim.rules import AwsRules
    from bench.workload import Workload

    knobs = Knobs(
        max_concurrency=max_concurrency,
        batch_size=batch_size,
        batch_threads=batch_threads,
        provisioned=provisioned,
        reserved_concurrency=reserved_concurrency,
        esm_batch_size=esm_batch_size,
        esm_max_concurrency=esm_max_concurrency,
        distributed_max_concurrency=distributed_max_concurrency,
        distributed_batch_size=distributed_batch_size,
    )
    rules = AwsRules.for_region(region or DEFAULT_REGION)
    configured = configure_variants([variant], knobs, rules)[0]
    for warning in unused_knobs([variant], knobs):
        typer.echo(f"warning: {warning}", err=True)

    names = RunNames(run_id, rules.region, account_id).for_variant(variant)
    rendering = render_variant(configured, names, Workload(work_seconds, jitter))
    for path in write_rendering(rendering, out):
        typer.echo(f"wrote {path}")


COMMANDS: dict[str, Callable[..., Any]] = {"teardown": teardown, "render": render}
