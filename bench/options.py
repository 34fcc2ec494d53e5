"""Command-line options shared by several commands, defined once."""

from pathlib import Path
from typing import Annotated, Optional

import typer

AwsRegion = Annotated[
    Optional[str],
    typer.Option("--region", help="AWS Region to use. Default: the Region of your AWS configuration."),
]
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


# Variant knobs, shared by `bench run` and `bench render`; None keeps the variant's default.
MaxConcurrency = Annotated[
    Optional[int],
    typer.Option(help="Inline Map MaxConcurrency of per-book, batched and provisioned (default 1000; 0 = no limit; an inline Map still runs at most 40)."),
]
BatchSize = Annotated[
    Optional[int],
    typer.Option(help="Books per worker invocation in the batched variant (default 20)."),
]
BatchThreads = Annotated[
    Optional[int],
    typer.Option(help="Threads a worker uses for the books of its batch (default 20 for batched, 1 elsewhere; 1 = sequential)."),
]
Provisioned = Annotated[
    Optional[int],
    typer.Option(help="Provisioned environments of the provisioned variant's worker (default 40)."),
]
ReservedConcurrency = Annotated[
    Optional[int],
    typer.Option(help="Reserved concurrency of the worker function (default: none)."),
]
EsmBatchSize = Annotated[
    Optional[int],
    typer.Option(help="Messages per invocation of the SQS event source mapping (default 1; 1-10, as no batching window is set)."),
]
EsmMaxConcurrency = Annotated[
    Optional[int],
    typer.Option(help="MaximumConcurrency of the SQS event source mapping (default: none; 2-1000)."),
]
DistributedMaxConcurrency = Annotated[
    Optional[int],
    typer.Option(help="MaxConcurrency of the distributed Map (default 1000; 0 = up to 10,000 child executions)."),
]
DistributedBatchSize = Annotated[
    Optional[int],
    typer.Option(help="Books per child execution of the distributed Map, via ItemBatcher (default 1)."),
]
