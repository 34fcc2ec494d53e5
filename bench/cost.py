"""Estimated cost of one repetition in USD, from its invocation records, counters and a dated price table.

The prices live in bench/data/prices.json, one entry per billing dimension with
its source and the date it was checked. A region lists only the prices that
differ from us-east-1; the others fall back to us-east-1, and a region the
table does not list at all is priced at us-east-1 prices (see price_region).
Prices are the first
pricing tier without the monthly free tier, so the estimate is the marginal
cost of one run in an account that already uses the service.
"""

import json
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from bench.errors import InputError

logger = logging.getLogger(__name__)

PRICES_FORMAT = "fanout-bench-prices"
PRICES_FORMAT_VERSION = 1

ARCHITECTURES = ("x86_64", "arm64")

# Provisioned Concurrency is billed from enabling to disabling, rounded up to
# the nearest five minutes. Source: AWS Lambda pricing, "Provisioned Concurrency Pricing".
PROVISIONED_BILLING_INCREMENT_S = 300

# Express workflows bill duration rounded up to 100 ms and memory in 64 MB
# chunks. Source: AWS Step Functions pricing, "Express Workflows pricing details".
# A child that runs one Lambda task on a small payload is estimated to stay
# within one chunk.
EXPRESS_BILLING_INCREMENT_MS = 100
EXPRESS_MEMORY_MB = 64

# Line items of every estimate, in display order. The "total" item is their sum.
LINE_ITEMS = (
    "lambda_requests",
    "lambda_duration",
    "lambda_provisioned_duration",
    "lambda_provisioned_concurrency",
    "stepfunctions_state_transitions",
    "stepfunctions_express_requests",
    "stepfunctions_express_duration",
    "sqs_requests",
    "s3_get_requests",
    "s3_put_requests",
    "dynamodb_write_requests",
)

@dataclass(frozen=True)
class Price:
    """One price of the table: USD per unit, with where it came from and when it was checked."""

    usd: float
    unit: str
    source: str
    checked: str


@dataclass(frozen=True)
class PriceTable:
    """Prices by region: `regions[default_region]` has every price, other regions only overrides."""

    default_region: str
    regions: dict[str, dict[str, Price]]

    def prices_for(self, region: str) -> dict[str, Price]:
        """Return every price for `region`, falling back to the default region's prices."""
        merged = dict(self.regions[self.default_region])
        merged.update(self.regions.get(region, {}))
        return merged

    def has_region(self, region: str) -> bool:
        """Return True when the table lists prices of its own for `region`."""
        return region in self.regions


def load_price_table(path: Path | None = None) -> PriceTable:
    """Read a price table file, or the bundled bench/data/prices.json when `path` is None.

    Raises InputError naming the file when it is unreadable, not JSON, of
    another format, or lacks a price that the default region must have.
    """
    label = str(path) if path else "bundled bench/data/prices.json"
    source = path if path else resources.files("bench").joinpath("data/prices.json")
    try:
        document = json.loads(source.read_text("utf-8"))
    except OSError as error:
        raise InputError(f"{label}: cannot read the price table: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{label}: the price table is not valid JSON ({error})") from None

    if document.get("format") != PRICES_FORMAT or document.get("format_version") != PRICES_FORMAT_VERSION:
        raise InputError(
            f"{label}: not a price table of format {PRICES_FORMAT!r} version {PRICES_FORMAT_VERSION}; "
            "start from the bundled bench/data/prices.json"
        )

    table = PriceTable(
        default_region=document["default_region"],
        regions={region: _parse_prices(label, region, entries) for region, entries in document["regions"].items()},
    )
    _check_complete(label, table)
    return table


def _parse_prices(label: str, region: str, entries: dict[str, Any]) -> dict[str, Price]:
    prices: dict[str, Price] = {}
    for name, entry in entries.items():
        usd = entry.get("usd")
        if not isinstance(usd, (int, float)) or usd < 0:
            raise InputError(f"{label}: {region}.{name}.usd is {usd!r}, expected a non-negative number of USD")
        prices[name] = Price(float(usd), entry.get("unit", ""), entry.get("source", ""), entry.get("checked", ""))
    return prices


def _check_complete(label: str, table: PriceTable) -> None:
    required = {
        "lambda_request",
        "stepfunctions_state_transition",
        "stepfunctions_express_request",
        "stepfunctions_express_duration",
        "sqs_request",
        "s3_get_request",
        "s3_put_request",
        "dynamodb_write_request",
    }
    for architecture in ARCHITECTURES:
        required |= {
            f"lambda_duration_{architecture}",
            f"lambda_provisioned_concurrency_{architecture}",
            f"lambda_provisioned_duration_{architecture}",
        }
    missing = sorted(required - set(table.regions.get(table.default_region, {})))
    if missing:
        raise InputError(f"{label}: the default region {table.default_region} lacks prices for: {', '.join(missing)}")


@lru_cache(maxsize=1)
def default_price_table() -> PriceTable:
    """Return the bundled price table, read once per process."""
    return load_price_table()


def price_region(region: str) -> str:
    """Return the region whose prices estimate_cost uses for `region`: itself when listed, else the default region.

    A listed region may still take single prices it does not list from the
    default region.
    """
    table = default_price_table()
    return region if table.has_region(region) else table.default_region


@lru_cache(maxsize=64)
def region_prices(region: str) -> dict[str, float]:
    """Return USD per unit for every billing dimension in `region` (bundled table).

    Logs once per region at INFO level when the table does not list the
    region, because every run there takes the default region's prices.
    """
    table = default_price_table()
    if not table.has_region(region):
        logger.info("no prices listed for region %s; using %s prices", region, table.default_region)
    return {name: price.usd for name, price in table.prices_for(region).items()}


def estimate_cost(
    variant: dict[str, Any],
    invocations: list[dict[str, Any]],
    counters: dict[str, int],
    region: str,
) -> dict[str, float]:
    """Return the estimated cost in USD by line item (LINE_ITEMS), with the sum under "total".

    Lambda duration comes from each record's billed_ms, which already includes
    the init duration whenever AWS bills it (on-demand zip functions since
    2025-08-01, provisioned environments always). Records with
    provisioned=True are priced at the provisioned duration rate. Every
    function of the variant is priced at the variant's memory_mb and
    architecture. Request counts come from the counters; lambda_requests
    falls back to the number of records when the counter is absent.
    express_duration_ms must be the sum of the children's billed durations,
    each already rounded up to EXPRESS_BILLING_INCREMENT_MS. The region
    actually priced is price_region(region).
    """
    prices = region_prices(region)
    architecture = _architecture(variant)
    memory_mb = _memory_mb(variant)
    on_demand_gb_s, provisioned_gb_s = lambda_gb_seconds(invocations, memory_mb)
    lambda_requests = counters.get("lambda_requests", len(invocations))

    items = {
        "lambda_requests": lambda_requests * prices["lambda_request"],
        "lambda_duration": on_demand_gb_s * prices[f"lambda_duration_{architecture}"],
        "lambda_provisioned_duration": provisioned_gb_s * prices[f"lambda_provisioned_duration_{architecture}"],
        "lambda_provisioned_concurrency": provisioned_concurrency_gb_seconds(
            _provisioned_environments(variant, counters), counters.get("provisioned_seconds", 0), memory_mb
        )
        * prices[f"lambda_provisioned_concurrency_{architecture}"],
        "stepfunctions_state_transitions": counters.get("state_transitions", 0)
        * prices["stepfunctions_state_transition"],
        "stepfunctions_express_requests": counters.get("express_executions", 0)
        * prices["stepfunctions_express_request"],
        "stepfunctions_express_duration": express_gb_seconds(counters.get("express_duration_ms", 0))
        * prices["stepfunctions_express_duration"],
        "sqs_requests": counters.get("sqs_requests", 0) * prices["sqs_request"],
        "s3_get_requests": counters.get("s3_get_requests", 0) * prices["s3_get_request"],
        "s3_put_requests": counters.get("s3_put_requests", 0) * prices["s3_put_request"],
        "dynamodb_write_requests": counters.get("dynamodb_write_requests", 0) * prices["dynamodb_write_request"],
    }

    items["total"] = math.fsum(items.values())
    return items


def lambda_gb_seconds(invocations: list[dict[str, Any]], memory_mb: int) -> tuple[float, float]:
    """Return (on-demand, provisioned) billed GB-seconds of the invocation records."""
    memory_gb = memory_mb / 1024
    on_demand_ms = math.fsum(record["billed_ms"] for record in invocations if not record.get("provisioned"))
    provisioned_ms = math.fsum(record["billed_ms"] for record in invocations if record.get("provisioned"))
    return on_demand_ms / 1000 * memory_gb, provisioned_ms / 1000 * memory_gb


def provisioned_concurrency_gb_seconds(environments: int, configured_seconds: float, memory_mb: int) -> float:
    """Return the billed GB-seconds of keeping `environments` provisioned for `configured_seconds`.

    The configured time is rounded up to the next 5-minute increment.
    """
    if environments <= 0 or configured_seconds <= 0:
        return 0.0
    increments = math.ceil(configured_seconds / PROVISIONED_BILLING_INCREMENT_S)
    return environments * memory_mb / 1024 * increments * PROVISIONED_BILLING_INCREMENT_S


def express_gb_seconds(billed_duration_ms: float) -> float:
    """Return the billed GB-seconds of Express executions at one 64 MB memory chunk."""
    return billed_duration_ms / 1000 * EXPRESS_MEMORY_MB / 1024


def express_billed_ms(duration_ms: float) -> int:
    """Return one Express execution's billed duration: `duration_ms` rounded up to 100 ms."""
    return math.ceil(duration_ms / EXPRESS_BILLING_INCREMENT_MS) * EXPRESS_BILLING_INCREMENT_MS


def _provisioned_environments(variant: dict[str, Any], counters: dict[str, int]) -> int:
    return int(counters.get("provisioned_environments", variant.get("provisioned", 0)))


def _architecture(variant: dict[str, Any]) -> str:
    architecture = variant.get("architecture", "x86_64")
    if architecture not in ARCHITECTURES:
        raise InputError(
            f"variant {variant.get('name')!r}: architecture {architecture!r} has no Lambda price; "
            f"expected one of {', '.join(ARCHITECTURES)}"
        )
    return architecture


def _memory_mb(variant: dict[str, Any]) -> int:
    # Lambda memory is 128 to 10,240 MB. Source: AWS Lambda pricing, "AWS Lambda Pricing".
    memory_mb = variant.get("memory_mb", 1024)
    if not isinstance(memory_mb, int) or not 128 <= memory_mb <= 10240:
        raise InputError(
            f"variant {variant.get('name')!r}: memory_mb is {memory_mb!r}; Lambda accepts 128 to 10,240 MB"
        )
    return memory_mb
