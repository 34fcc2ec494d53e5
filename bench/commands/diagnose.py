"""Commands of the diagnose group: `bench diagnose`."""

import json
from collections.abc import Callable
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from bench.options import AwsRegion, EndpointUrl, Profile


class DiagnoseFormat(str, Enum):
    """Output formats of `bench diagnose`."""

    text = "text"
    json = "json"


def diagnose(
    function: Annotated[str, typer.Option("--function", help="Name or ARN of the Lambda function the fan-out invokes.")],
    execution: Annotated[
        Optional[str], typer.Option("--execution", help="ARN of a Step Functions execution to analyse.")
    ] = None,
    state_machine: Annotated[
        Optional[str],
        typer.Option("--state-machine", help="ARN of a state machine; its newest execution in the window is analysed."),
    ] = None,
    start: Annotated[
        Optional[str],
        typer.Option("--start", help="Window start: ISO 8601 time (UTC unless zoned), or a time ago such as 30m or 2h."),
    ] = None,
    end: Annotated[
        Optional[str], typer.Option("--end", help="Window end: ISO 8601 time, 'now' or a time ago. Default: now.")
    ] = None,
    region: AwsRegion = None,
    profile: Profile = None,
    endpoint_url: EndpointUrl = None,
    output_format: Annotated[DiagnoseFormat, typer.Option("--format", help="Output format: text (the report) or json (every check's data).")] = DiagnoseFormat.text,
    what_if: Annotated[
        bool,
        typer.Option("--what-if", help="Simulate every variant with the observed item count and worker duration."),
    ] = False,
) -> None:
    """Find which limit bound a live fan-out: metrics, account and function settings, REPORT lines, Map history."""
    from bench.aws.diagnose import DiagnoseRequest, parse_time, run_diagnosis
    from bench.aws.diagnose import what_if as predict
    from bench.aws.diagnose_checks import build_clients
    from bench.aws.diagnose_text import format_diagnosis
    from bench.errors import InputError

    if execution and state_machine:
        raise InputError("pass either --execution or --state-machine, not both")
    now = datetime.now(timezone.utc)
    request = DiagnoseRequest(
        function=function,
        execution_arn=execution,
        state_machine_arn=state_machine,
        start=parse_time(start, "--start", now) if start else None,
        end=parse_time(end, "--end", now) if end else None,
    )

    clients, chosen_region = build_clients(region, profile, endpoint_url)
    diagnosis = run_diagnosis(clients, request, chosen_region, now=now)
    if what_if:
        predict(diagnosis)

    if output_format is DiagnoseFormat.json:
        typer.echo(json.dumps(diagnosis.to_dict(), indent=2, sort_keys=True))
    else:
        typer.echo(format_diagnosis(diagnosis))


COMMANDS: dict[str, Callable[..., Any]] = {"diagnose": diagnose}
