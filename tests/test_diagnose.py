"""Tests for `bench diagnose` on fan-outs set up in moto: the checks and the verdict in each case."""

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from bench.aws.diagnose import DiagnoseRequest, Diagnosis, parse_time, run_diagnosis
from bench.aws.diagnose_checks import (
    AwsBackendError,
    DiagnoseClients,
    MissingPermissionError,
    ResourceNotFoundError,
    check_account,
    check_logs,
    check_metrics,
)
from bench.errors import InputError
from diagnose_fixtures import FUNCTION, MOTO_CONFIG, REGION, Scenario, deploy, ramp, waves


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(config=MOTO_CONFIG):
        yield


def diagnose(scenario: Scenario, with_execution: bool = True) -> tuple[Diagnosis, Any]:
    deployed = deploy(scenario)
    start, end = scenario.window
    request = DiagnoseRequest(
        FUNCTION, execution_arn=deployed.execution_arn if with_execution else None, start=start, end=end
    )
    diagnosis = run_diagnosis(deployed.clients, request, REGION)
    deployed.stubber.assert_no_pending_responses()
    return diagnosis, deployed


def test_reserved_concurrency_named(aws: None) -> None:
    diagnosis, _ = diagnose(Scenario(spans=waves(565, 20, 3.0), reserved=20, workflow_items=565))
    verdict = diagnosis.verdict

    assert verdict.limit == "reserved_concurrency"
    assert verdict.headline == (
        "reserved concurrency of 20 on worker, not the inline Map concurrency cap of 40: 565 iterations ran in "
        "29 waves, peak 20 concurrent"
    )
    assert verdict.limits == {"reserved_concurrency": 23100.0}
    assert diagnosis.function_check.reserved == 20
    assert diagnosis.logs.profile.waves == 29


def test_account_limit_named(aws: None) -> None:
    scenario = Scenario(spans=waves(565, 10, 3.0), account_limit=10, workflow_items=565, throttles_per_minute=30.0)
    diagnosis, _ = diagnose(scenario)
    verdict = diagnosis.verdict

    assert verdict.limit == "account_concurrency"
    assert verdict.headline == (
        "account concurrency limit of 10, not the inline Map concurrency cap of 40: 565 iterations ran in "
        "57 waves, peak 10 concurrent, 90 throttles"
    )
    assert verdict.limits == {"account_concurrency": 47040.0}
    assert diagnosis.metrics.throttles == 90.0


def test_esm_ramp_named(aws: None) -> None:
    scenario = Scenario(spans=ramp(300, 5, 5, 3.0), account_limit=1000, sqs=True)
    diagnosis, _ = diagnose(scenario, with_execution=False)
    verdict = diagnosis.verdict

    assert verdict.limit == "esm_ramp"
    assert verdict.headline == (
        "SQS event source mapping ramp: concurrency rose from 5 to 50 over 27 s while messages waited, below "
        "every concurrency cap (account_concurrency 1,000); 300 invocations ran in 11 waves, peak 50 concurrent"
    )
    assert verdict.limits == {"esm_ramp": 5700.0}
    assert diagnosis.workflow is None
    assert len(diagnosis.function_check.sqs_sources) == 1


def test_esm_maximum_concurrency_named(aws: None) -> None:
    scenario = Scenario(spans=waves(100, 10, 3.0), account_limit=1000, sqs=True, esm_max_concurrency=10)
    diagnosis, _ = diagnose(scenario, with_execution=False)

    assert diagnosis.verdict.limit == "esm_max_concurrency"
    assert diagnosis.verdict.limits == {"esm_max_concurrency": 1350.0}
    assert diagnosis.function_check.event_sources[0]["maximum_concurrency"] == 10


def test_peak_40_without_workflow_suspected(aws: None) -> None:
    diagnosis, _ = diagnose(Scenario(spans=waves(565, 40, 3.0)), with_execution=False)

    assert diagnosis.verdict.limit == "inline_map_cap"
    assert diagnosis.verdict.suspected is True
    assert diagnosis.verdict.headline.endswith("pass --execution or --state-machine to confirm")


def test_all_at_once_no_limit(aws: None) -> None:
    diagnosis, _ = diagnose(Scenario(spans=waves(30, 30, 3.0)), with_execution=False)

    assert diagnosis.verdict.limit is None
    assert diagnosis.verdict.limits == {}
    assert diagnosis.verdict.headline.startswith("no limit held the fan-out back: 30 invocations, peak 30")


def test_window_without_reports_no_verdict(aws: None) -> None:
    scenario = Scenario(spans=waves(40, 40, 3.0))
    deployed = deploy(scenario)
    later = scenario.base + timedelta(hours=2)
    request = DiagnoseRequest(FUNCTION, start=later, end=later + timedelta(minutes=5))
    diagnosis = run_diagnosis(deployed.clients, request, REGION)

    assert diagnosis.verdict.limit is None
    assert diagnosis.logs.profile.invocations == 0
    assert diagnosis.verdict.headline.startswith("no verdict: no invocations")


def test_missing_function_raises(aws: None) -> None:
    clients = DiagnoseClients(
        cloudwatch=boto3.client("cloudwatch", region_name=REGION),
        lambda_=boto3.client("lambda", region_name=REGION),
        logs=boto3.client("logs", region_name=REGION),
        stepfunctions=boto3.client("stepfunctions", region_name=REGION),
    )

    with pytest.raises(ResourceNotFoundError, match="reading the configuration of function absent: not found"):
        run_diagnosis(clients, DiagnoseRequest("absent"), REGION)


def test_access_denied_account_settings_skipped(aws: None) -> None:
    scenario = Scenario(spans=waves(565, 40, 3.0))
    deployed = deploy(scenario)
    stubber = deployed.stubber
    stubber.deactivate()
    denied = type(stubber)(deployed.clients.lambda_, stubber.operations)
    denied.add_response("list_provisioned_concurrency_configs", {"ProvisionedConcurrencyConfigs": []})
    denied.add_client_error(
        "get_account_settings",
        service_error_code="AccessDeniedException",
        service_message="User: arn:aws:iam::123456789012:user/bench is not authorized to perform: "
        "lambda:GetAccountSettings",
        http_status_code=403,
    )
    denied.activate()

    start, end = scenario.window
    diagnosis = run_diagnosis(deployed.clients, DiagnoseRequest(FUNCTION, start=start, end=end), REGION)

    assert diagnosis.account is None
    assert diagnosis.problems == [
        "access denied for lambda:GetAccountSettings: reading the account's Lambda settings "
        "(AccessDeniedException); grant lambda:GetAccountSettings to the credentials you use"
    ]
    assert diagnosis.verdict.limit == "inline_map_cap"


@pytest.mark.parametrize(
    ("service", "operation", "call", "action"),
    [
        ("lambda", "get_account_settings", lambda client: check_account(client), "lambda:GetAccountSettings"),
        (
            "cloudwatch",
            "get_metric_statistics",
            lambda client: check_metrics(client, FUNCTION, *window()),
            "cloudwatch:GetMetricStatistics",
        ),
        (
            "logs",
            "filter_log_events",
            lambda client: check_logs(client, "/aws/lambda/worker", "Text", *window()),
            "logs:FilterLogEvents",
        ),
    ],
)
def test_access_denied_names_iam_action(service: str, operation: str, call: Any, action: str) -> None:
    client = boto3.client(service, region_name=REGION)
    with Stubber(client) as stubber:
        stubber.add_client_error(operation, service_error_code="AccessDeniedException", http_status_code=403)

        with pytest.raises(MissingPermissionError) as raised:
            call(client)

    assert raised.value.action == action
    assert f"grant {action} to the credentials you use" in str(raised.value)


def window() -> tuple[datetime, datetime]:
    end = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)
    return end - timedelta(minutes=10), end


def test_throttling_gives_retry_message() -> None:
    client = boto3.client("lambda", region_name=REGION)
    with Stubber(client) as stubber:
        stubber.add_client_error("get_account_settings", service_error_code="TooManyRequestsException", http_status_code=429)

        with pytest.raises(AwsBackendError, match="GetAccountSettings was still throttled after 10 attempts; try again later"):
            check_account(client)


def test_log_pages_all_read() -> None:
    client = boto3.client("logs", region_name=REGION)
    start, end = window()
    first_ms = int(start.timestamp() * 1000)
    report = "REPORT RequestId: r{}\tDuration: 1000.00 ms\tBilled Duration: 1000 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t"
    pages = [
        {"events": [{"timestamp": first_ms + 1000, "message": report.format(1), "eventId": "1", "logStreamName": "a"}],
         "nextToken": "page-2"},
        {"events": [{"timestamp": first_ms + 1500, "message": report.format(2), "eventId": "2", "logStreamName": "b"}]},
    ]
    expected = {"logGroupName": "/aws/lambda/worker", "startTime": first_ms, "endTime": first_ms + 1_500_000,
                "filterPattern": '"REPORT RequestId"'}
    with Stubber(client) as stubber:
        stubber.add_response("filter_log_events", pages[0], expected)
        stubber.add_response("filter_log_events", pages[1], {**expected, "nextToken": "page-2"})
        check = check_logs(client, "/aws/lambda/worker", "Text", start, end)

    assert check.events_read == 2
    assert check.profile.invocations == 2
    assert check.profile.peak == 2


def test_json_log_format_read(aws: None) -> None:
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/custom/worker")
    logs.create_log_stream(logGroupName="/custom/worker", logStreamName="s")
    end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    message = (
        '{"time":"%s","type":"platform.report","record":{"requestId":"r1","status":"success",'
        '"metrics":{"durationMs":2000.0,"billedDurationMs":2000,"memorySizeMB":1024,"maxMemoryUsedMB":60,'
        '"initDurationMs":99.5}}}'
    ) % end.isoformat()
    logs.put_log_events(
        logGroupName="/custom/worker",
        logStreamName="s",
        logEvents=[
            {"timestamp": int(end.timestamp() * 1000) - 1, "message": '{"type":"platform.start","record":{}}'},
            {"timestamp": int(end.timestamp() * 1000), "message": message},
        ],
    )
    check = check_logs(logs, "/custom/worker", "JSON", end - timedelta(minutes=1), end + timedelta(minutes=1))

    assert check.events_read == 1
    assert check.profile.invocations == 1
    assert check.profile.cold_starts == 1
    assert check.scan.invocations[0]["start"] == end.timestamp() - 2.0


def test_missing_log_group_reported(aws: None) -> None:
    logs = boto3.client("logs", region_name=REGION)
    check = check_logs(logs, "/aws/lambda/never-ran", "Text", *window())

    assert check.found is False
    assert check.profile.invocations == 0


NOW = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("30m", NOW - timedelta(minutes=30)),
        ("-2h", NOW - timedelta(hours=2)),
        ("1d", NOW - timedelta(days=1)),
        ("90s", NOW - timedelta(seconds=90)),
        ("2026-01-05T10:00:00Z", datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)),
        ("2026-01-05T10:00:00", datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)),
        ("2026-01-05T11:00:00+01:00", datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)),
    ],
)
def test_parse_time_accepts(text: str, expected: datetime) -> None:
    assert parse_time(text, "--start", NOW) == expected


def test_parse_time_rejects_words() -> None:
    with pytest.raises(InputError, match="--start 'yesterday' is not a valid time"):
        parse_time("yesterday", "--start", NOW)
