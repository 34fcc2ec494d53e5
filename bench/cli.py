"""The `bench` command line: thin typer commands over the core, one error boundary.

Each command lives in bench/commands/ and imports its heavy dependencies
(pandas, matplotlib, boto3, SimPy) inside the function, so `bench --help`
starts quickly.
"""

import functools
import logging
from collections.abc import Callable
from typing import Any

import typer

from bench.commands import aws, compare, diagnose, explain, plot, report, run
from bench.errors import BenchError

app = typer.Typer(
    name="bench",
    help="Measure and compare fan-out architectures on AWS Step Functions, Lambda and SQS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what the backend does to stderr."),
) -> None:
    """Measure and compare fan-out architectures on AWS Step Functions, Lambda and SQS."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def report_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so a BenchError prints one line and exits with its code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BenchError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


for module in (run, compare, plot, report, aws, diagnose, explain):
    for name, command in module.COMMANDS.items():
        app.command(name)(report_errors(command))


if __name__ == "__main__":
    app()
