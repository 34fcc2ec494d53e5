"""Run variants on AWS: confirm the cost, deploy, run every repetition, tear down, build the document."""

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.aws.clients import AwsClients, connect
from bench.aws.deploy import Deployer
from bench.aws.execute import RepetitionRunner
from bench.aws.ledger import Ledger, RunInfo, default_ledger_dir
from bench.aws.naming import TAG_RUN_ID, RunNames
from bench.aws.package import build_package
from bench.aws.render import render
from bench.aws.teardown import raise_if_failed, teardown_ledger, teardown_resources
from bench.errors import BenchError, InputError
from bench.results import build_document, new_run_id
from bench.workload import Workload
from variants import Variant

if TYPE_CHECKING:
    from bench.books import ReadingList
    from bench.sim.rules import AwsRules

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
Confirm = Callable[[str], bool]

# Maximum seconds the runner waits for late log records after a repetition ends.
LOG_WAIT_S = 120.0


class RunCancelled(BenchError):
    """The user declined the cost prompt; nothing was deployed."""


def run_on_aws(
    variants: list[Variant],
    reading_list: "ReadingList",
    workload: Workload,
    repetitions: int,
    region: str,
    profile: str | None,
    endpoint_url: str | None,
    keep: bool,
    assume_yes: bool,
    timeout_s: float,
    seed: int,
    rules: "AwsRules",
    confirm: Confirm,
    progress: Progress | None,
    *,
    clients: AwsClients | None = None,
    ledger_dir: Path | None = None,
    log_wait_s: float = LOG_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Deploy, run and measure each variant `repetitions` times; return the result document.

    Before deploying into a real account (no `endpoint_url`) it calls
    `confirm` with the simulator's cost estimate, unless `assume_yes`. Every
    resource is recorded in a ledger as soon as it exists. Resources are torn
    down after each variant unless `keep`, and always when the run fails or is
    interrupted; KeyboardInterrupt is re-raised after that teardown. Pass
    `clients` to use given boto3 clients instead of a new session.
    """
    clients = clients or connect(region, profile, endpoint_url)
    if endpoint_url is None and not assume_yes:
        _ask_to_continue(variants, reading_list, workload, repetitions, seed, rules, clients, confirm)

    account_id = clients.account_id()
    run_id = new_run_id()
    run_info = RunInfo(run_id, clients.region, account_id, endpoint_url)
    ledger = Ledger.create(ledger_dir or default_ledger_dir(), run_info)
    logger.info("run %s: recording resources in %s", run_id, ledger.path)
    package = build_package()
    deployer = Deployer(clients, ledger, package, sleep, progress)
    names = RunNames(run_id, clients.region, account_id)
    runner = RepetitionRunner(
        clients=clients,
        books=len(reading_list.items),
        expected_sha256=expected_aggregate(reading_list.items),
        timeout_s=timeout_s,
        log_wait_s=min(log_wait_s, timeout_s),
        sleep=sleep,
        progress=progress,
        total=len(variants) * repetitions,
    )
    try:
        variant_runs = _run_variants(
            variants, repetitions, keep, names, reading_list, workload, seed, deployer, runner
        )
    except BaseException as failure:
        _teardown_after_failure(clients, ledger, failure)
        raise
    if not keep:
        raise_if_failed(teardown_ledger(clients, ledger), run_id)

    parameters = {
        "repetitions": repetitions,
        "seed": seed,
        "workload": asdict(workload),
        "rules": rules.to_dict(),
        "timeout_s": timeout_s,
        "kept_resources": keep,
    }
    environment = {
        "account_id": account_id,
        "endpoint_url": endpoint_url,
        "code_sha256": package.sha256,
        "ledger": str(ledger.path) if keep else None,
    }
    return build_document(
        run_id=run_id,
        backend="aws",
        region=clients.region,
        parameters=parameters,
        input_info=_input_info(reading_list),
        variant_runs=variant_runs,
        environment=environment,
    )


def _run_variants(
    variants: list[Variant],
    repetitions: int,
    keep: bool,
    names: RunNames,
    reading_list: "ReadingList",
    workload: Workload,
    seed: int,
    deployer: Deployer,
    runner: RepetitionRunner,
) -> list[dict[str, Any]]:
    """Deploy and run each variant in turn; tear each one down after its repetitions unless `keep`."""
    deployer.create_bucket(names, {TAG_RUN_ID: names.run_id})
    input_data = read_input(reading_list)

    variant_runs = []
    for variant in variants:
        variant_names = names.for_variant(variant.name)
        deployment = deployer.deploy(render(variant, variant_names, workload, seed))
        deployer.upload(names.bucket, variant_names.input_key, input_data)
        runs = [runner.run(deployment, index).to_dict() for index in range(repetitions)]
        variant_runs.append({"variant": variant.to_dict(), "repetitions": runs})
        if not keep:
            _teardown_variant(deployer, variant.name)
    return variant_runs


def _teardown_variant(deployer: Deployer, variant: str) -> None:
    """Delete one variant's resources as soon as it is done; provisioned concurrency bills until then."""
    ledger = deployer.ledger
    mine = [resource for resource in reversed(ledger.resources) if resource.variant == variant]
    report = teardown_resources(deployer.clients, mine)
    for resource in report.deleted + report.already_gone:
        ledger.record_deleted(resource)
    raise_if_failed(report, ledger.run.run_id)


def _ask_to_continue(
    variants: list[Variant],
    reading_list: "ReadingList",
    workload: Workload,
    repetitions: int,
    seed: int,
    rules: "AwsRules",
    clients: AwsClients,
    confirm: Confirm,
) -> None:
    """Show the simulator's cost estimate for the run and ask the user to confirm it."""
    estimate = estimate_cost_usd(variants, reading_list.items, workload, repetitions, seed, rules)
    message = (
        f"Deploy {len(variants)} variant(s) to AWS account {clients.account_id()} in {clients.region} and run "
        f"{repetitions} repetition(s) of {len(reading_list.items)} books each? The simulator estimates "
        f"${estimate:.4f} (provisioned concurrency is billed in 5-minute units while configured, "
        "which can add more). Resources are deleted afterwards unless --keep."
    )
    if not confirm(message):
        raise RunCancelled("run cancelled at the cost prompt; nothing was deployed")


def estimate_cost_usd(
    variants: list[Variant],
    items: list[dict[str, Any]],
    workload: Workload,
    repetitions: int,
    seed: int,
    rules: "AwsRules",
) -> float:
    """Return the simulator's estimated cost in USD of every repetition of every variant."""
    from bench.sim import simulate

    total = 0.0
    for variant in variants:
        for index in range(repetitions):
            total += simulate(variant, items, workload, rules, seed, index).cost_usd.get("total", 0.0)
    return total


def _teardown_after_failure(clients: AwsClients, ledger: Ledger, failure: BaseException) -> None:
    reason = "was interrupted" if isinstance(failure, KeyboardInterrupt) else f"failed ({failure})"
    logger.warning("run %s %s; deleting its resources", ledger.run.run_id, reason)
    try:
        report = teardown_ledger(clients, ledger)
    except KeyboardInterrupt:
        logger.error("teardown interrupted; run `bench teardown %s` to finish it", ledger.run.run_id)
        return
    if not report.ok:
        left = ", ".join(resource.describe() for resource, _ in report.failed)
        logger.error("could not delete %s; run `bench teardown %s` to retry", left, ledger.run.run_id)


def expected_aggregate(items: list[dict[str, Any]]) -> str:
    """Return the aggregate digest every variant must produce for `items`, computed locally."""
    from variants.handlers.aggregate import aggregate_digest, merge_results
    from variants.handlers.enrich import enrich_book

    return aggregate_digest(merge_results(enrich_book(item) for item in items))


def read_input(reading_list: "ReadingList") -> bytes:
    """Return the raw bytes of the reading list's file; raise InputError if they changed since loading."""
    if reading_list.source.startswith("bundled:"):
        name = reading_list.source.removeprefix("bundled:")
        data = resources.files("bench").joinpath("data", name).read_bytes()
    else:
        try:
            data = Path(reading_list.source).read_bytes()
        except OSError as error:
            raise InputError(f"{reading_list.source}: cannot read the input file: {error.strerror}") from None
    if hashlib.sha256(data).hexdigest() != reading_list.sha256:
        raise InputError(f"{reading_list.source}: the file changed since it was loaded; run the command again")
    return data


def _input_info(reading_list: "ReadingList") -> dict[str, Any]:
    return {
        "source": reading_list.source,
        "items": len(reading_list.items),
        "sha256": reading_list.sha256,
        "size_bytes": reading_list.size_bytes,
    }
