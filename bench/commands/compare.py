"""Commands of the compare group: `bench compare`."""

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from bench.options import ResultPaths


class OutputFormat(str, Enum):
    """Output formats of `bench compare`."""

    table = "table"
    markdown = "markdown"
    csv = "csv"
    json = "json"


FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", help="table and markdown print every section; csv and json one record per variant."),
]
BaselineOption = Annotated[
    Optional[str],
    typer.Option("--baseline", help="Variant to compare the others with: adds the relative speed and a rank test."),
]
CostOption = Annotated[
    bool, typer.Option("--cost", help="Add the estimated cost per run by line item and per 1,000 items.")
]
StatsOption = Annotated[
    bool,
    typer.Option(
        "--stats",
        help="Add median, p95, min, max and the median's confidence interval per stage (csv/json: all columns).",
    ),
]
AgainstOption = Annotated[
    Optional[list[Path]],
    typer.Option("--against", help="Older result files or folders: exit 1 when a variant became significantly slower."),
]
MaxSlowdownOption = Annotated[
    str,
    typer.Option("--max-slowdown", help="Slowdown of the median total that --against allows, in percent, e.g. 10%."),
]
AlphaOption = Annotated[
    float, typer.Option("--alpha", min=0.0, max=1.0, help="Significance level of the Mann-Whitney U tests.")
]


def compare(
    paths: ResultPaths,
    output_format: FormatOption = OutputFormat.table,
    baseline: BaselineOption = None,
    cost: CostOption = False,
    stats: StatsOption = False,
    against: AgainstOption = None,
    max_slowdown: MaxSlowdownOption = "10%",
    alpha: AlphaOption = 0.05,
) -> None:
    """Compare result files: one row per variant and backend, medians over runs."""
    from bench.compare_output import compare_results
    from bench.gate import parse_slowdown

    output = compare_results(
        paths,
        fmt=output_format.value,
        baseline=baseline,
        cost=cost,
        stats=stats,
        against=against,
        max_slowdown=parse_slowdown(max_slowdown),
        alpha=alpha,
    )

    typer.echo(output.text)
    for message in output.messages:
        typer.echo(message, err=True)
    if output.regression:
        raise typer.Exit(1)


COMMANDS: dict[str, Callable[..., Any]] = {"compare": compare}
