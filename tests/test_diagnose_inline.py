"""Tests for `bench diagnose` on the reference fan-out: 565 invocations of 3 s under an inline Map."""

from collections.abc import Iterator

import pytest
from moto import mock_aws

from bench.aws.diagnose import DiagnoseRequest, Diagnosis, run_diagnosis
from diagnose_fixtures import FUNCTION, MOTO_CONFIG, REGION, Deployed, Scenario, deploy, waves


@pytest.fixture(scope="module")
def inline_map() -> Iterator[tuple[Diagnosis, Deployed]]:
    """565 invocations of 3 s in waves of 40 under an inline Map, diagnosed once for several tests."""
    with mock_aws(config=MOTO_CONFIG):
        scenario = Scenario(spans=waves(565, 40, 3.0), workflow_items=565)
        deployed = deploy(scenario)
        start, end = scenario.window
        request = DiagnoseRequest(FUNCTION, execution_arn=deployed.execution_arn, start=start, end=end)
        diagnosis = run_diagnosis(deployed.clients, request, REGION)
        deployed.stubber.assert_no_pending_responses()
        yield diagnosis, deployed


def test_inline_map_cap_named(inline_map: tuple[Diagnosis, Deployed]) -> None:
    diagnosis, _ = inline_map
    verdict = diagnosis.verdict
    profile = diagnosis.logs.profile

    assert verdict.limit == "inline_map_cap"
    assert verdict.headline == (
        "inline Map concurrency cap of 40, not the account concurrency limit of 400: 565 iterations ran in "
        "15 waves, peak 40 concurrent, account headroom 360 unused"
    )
    assert verdict.limits == {"inline_map_cap": 11130.0}
    assert verdict.remedy.startswith("distributed")
    assert profile.peak == 40
    assert profile.waves == 15
    assert profile.invocations == 565
    assert profile.cold_starts == 40
    assert profile.median_init_ms == 120.5


def test_inline_map_checks_read(inline_map: tuple[Diagnosis, Deployed]) -> None:
    diagnosis, _ = inline_map

    assert diagnosis.metrics.peak == 40.0
    assert diagnosis.metrics.throttles == 0.0
    assert diagnosis.account.limit == 400
    assert diagnosis.account.unreserved == 400
    assert diagnosis.function_check.reserved is None
    assert diagnosis.function_check.provisioned == []
    assert diagnosis.function_check.event_sources == []
    assert diagnosis.function_check.log_group == "/aws/lambda/worker"
    assert diagnosis.logs.events_read == 565
    assert diagnosis.problems == []


def test_inline_map_definition_and_history(inline_map: tuple[Diagnosis, Deployed]) -> None:
    diagnosis, deployed = inline_map
    workflow = diagnosis.workflow

    assert workflow.execution_arn == deployed.execution_arn
    assert workflow.status == "SUCCEEDED"
    assert len(workflow.maps) == 1
    assert workflow.maps[0].name == "Books"
    assert workflow.maps[0].mode == "INLINE"
    assert workflow.maps[0].max_concurrency == 1000
    assert workflow.maps[0].effective_cap == 40
    assert workflow.main_run.iterations == 565
    assert workflow.main_run.failed_iterations == 0
    assert workflow.main_run.duration_s is not None
