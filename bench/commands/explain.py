"""Commands of the explain group: `bench explain`."""

import json
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any

import typer

from bench.options import ResultPaths


class ExplainFormat(str, Enum):
    """Output formats of `bench explain`."""

    text = "text"
    json = "json"


def explain(
    paths: ResultPaths,
    output_format: Annotated[ExplainFormat, typer.Option("--format", help="Output format: text (a table per variant) or json.")] = ExplainFormat.text,
) -> None:
    """Show which AWS limit held each variant's items back during the map phase, and for how long."""
    from bench.attribution import explain_document, format_explanation
    from bench.results import iter_documents

    reports = []
    for path, document in iter_documents(paths):
        explanations = explain_document(document)
        if output_format is ExplainFormat.json:
            reports.append({"file": str(path), "variants": [item.to_dict() for item in explanations]})
        else:
            reports.append(format_explanation(path, document, explanations))

    if output_format is ExplainFormat.json:
        typer.echo(json.dumps(reports, indent=2, sort_keys=True))
    else:
        typer.echo("\n\n".join(reports))


COMMANDS: dict[str, Callable[..., Any]] = {"explain": explain}
