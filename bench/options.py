"""Command-line options shared by several commands, defined once."""

from pathlib import Path
from typing import Annotated, Optional

import typer

Region = Annotated[
    Optional[str],
    typer.Option("--region", help="AWS Region; selects the Region's quotas and prices. Default: us-east-1 on sim."),
]
Profile = Annotated[Optional[str], typer.Option("--profile", help="AWS profile from your AWS config files.")]
EndpointUrl = Annotated[
    Optional[str],
    typer.Option(
        "--endpoint-url",
        envvar="AWS_ENDPOINT_URL",
        help="Send AWS calls to this endpoint, for example LocalStack at http://localhost:4566.",
    ),
]
ResultPaths = Annotated[
    list[Path],
    typer.Argument(help="Result files, or folders searched recursively for *.json result files."),
]
OutputFolder = Annotated[
    Path,
    typer.Option("--out", help="Folder to write into; created when missing. Existing files of the same name are replaced."),
]
