"""Commands of the report group: `bench report`."""

from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from bench.options import OutputFolder, ResultPaths


def report(
    paths: ResultPaths,
    out: OutputFolder,
    baseline: Annotated[
        Optional[str],
        typer.Option("--baseline", help="Variant the relative column compares with. Default: per-book when present."),
    ] = None,
) -> None:
    """Write one Markdown page (report.md) with the comparison and cost tables and the figures."""
    from bench.report import write_report

    typer.echo(f"wrote {write_report(paths, out, baseline)}")


COMMANDS: dict[str, Callable[..., Any]] = {"report": report}
