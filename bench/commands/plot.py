"""Commands of the plot group: `bench plot`."""

from collections.abc import Callable
from typing import Annotated, Any

import typer

from bench.options import OutputFolder, ResultPaths


def plot(
    paths: ResultPaths,
    out: OutputFolder,
    resolution: Annotated[
        float, typer.Option("--resolution", min=0.001, help="Sampling interval of the concurrency series, in seconds.")
    ] = 0.1,
) -> None:
    """Write PNG figures: worker concurrency, items completed, stage times and one timeline per variant."""
    from bench.plot import write_figures

    for path in write_figures(paths, out, resolution):
        typer.echo(f"wrote {path}")


COMMANDS: dict[str, Callable[..., Any]] = {"plot": plot}
