"""Tests for the Lambda REPORT-line parser and the concurrency profile rebuilt from it."""

import json
from pathlib import Path
from typing import Any

import pytest

from bench.aws.reports import (
    REPORT_FIELDS,
    ReportFormatError,
    concurrency_profile,
    parse_log_events,
    parse_report_line,
    parse_report_text,
    scan_log_events,
)

TEXT_FIELDS = ("duration_ms", "billed_ms", "init_ms", "restore_ms", "status", "error_type")


def load_report_lines(shared_data: Path) -> list[dict[str, Any]]:
    path = shared_data / "lambda_logs" / "report_lines.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_report_lines_file_has_62_cases(shared_data: Path) -> None:
    assert len(load_report_lines(shared_data)) == 62


@pytest.mark.parametrize("index", range(62))
def test_report_line_matches_expected_fields(shared_data: Path, index: int) -> None:
    case = load_report_lines(shared_data)[index]
    expected = case["features"]
    report = parse_report_line(case["text"])

    if expected["kind"] == "XRAY":
        assert report is None, case["id"]
        return
    if expected["kind"] == "platform.report":
        assert report is not None, case["id"]
        assert report["kind"] == "REPORT", case["id"]
        assert report["format"] == "json", case["id"]
        return

    assert report is not None, case["id"]
    assert report["kind"] == expected["kind"], case["id"]
    assert report["format"] == "text", case["id"]
    for name in TEXT_FIELDS:
        assert report[name] == expected[name], f"{case['id']} {name}"
    assert (report["xray_trace_id"] is not None) == expected["xray_on_same_line"], case["id"]


def test_report_line_has_every_field() -> None:
    report = parse_report_line("REPORT RequestId: abc\tDuration: 1.00 ms\tBilled Duration: 1 ms")

    assert report is not None
    assert tuple(report) == REPORT_FIELDS


def test_report_line_tab_separated_all_fields() -> None:
    line = (
        "REPORT RequestId: c793869b-ee49-115b-a5b6-4fd21e8dedac\tDuration: 128.83 ms\tBilled Duration: 200 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 74 MB\tInit Duration: 166.62 ms\t"
        "XRAY TraceId: 1-5d9d007f-0a8c7fd02xmpl480aed55ef0\tSegmentId: 3d752xmpl1bbe37e\tSampled: true"
    )
    report = parse_report_line(line)

    assert report is not None
    assert report["request_id"] == "c793869b-ee49-115b-a5b6-4fd21e8dedac"
    assert report["duration_ms"] == 128.83
    assert report["billed_ms"] == 200.0
    assert report["memory_mb"] == 128
    assert report["max_memory_mb"] == 74
    assert report["init_ms"] == 166.62
    assert report["xray_trace_id"] == "1-5d9d007f-0a8c7fd02xmpl480aed55ef0"
    assert report["xray_segment_id"] == "3d752xmpl1bbe37e"
    assert report["xray_sampled"] is True
    assert report["status"] is None


def test_report_line_snapstart_restore() -> None:
    line = (
        "REPORT RequestId: 55bc566d-1e2c-11e7-93e6-6705ceb4c1cc\tDuration: 469.40 ms\tBilled Duration: 500 ms\t"
        "Memory Size: 1024 MB\tMax Memory Used: 21 MB\tRestore Duration: 474.16 ms\tBilled Restore Duration: 75 ms"
    )
    report = parse_report_line(line)

    assert report is not None
    assert report["restore_ms"] == 474.16
    assert report["billed_restore_ms"] == 75.0
    assert report["init_ms"] is None


def test_report_line_iso_prefix_sets_timestamp() -> None:
    report = parse_report_line("2022-12-20T01:00:02.500-08:00 REPORT RequestId: XXX Duration: 3022.91 ms ")

    assert report is not None
    assert report["timestamp"] == 1671526802.5
    assert report["request_id"] == "XXX"
    assert report["billed_ms"] is None


def test_report_line_init_report_phase() -> None:
    report = parse_report_line("INIT_REPORT Init Duration: 3003.83 ms   Phase: invoke   Status: timeout")

    assert report is not None
    assert report["kind"] == "INIT_REPORT"
    assert report["phase"] == "invoke"
    assert report["init_ms"] == 3003.83
    assert report["status"] == "timeout"


@pytest.mark.parametrize(
    "line",
    [
        "START RequestId: 4ce9340a-b765-490f-ad8a-02ab3415e2bf Version: $LATEST",
        "END RequestId: 4ce9340a-b765-490f-ad8a-02ab3415e2bf",
        "XRAY TraceId: 1-5e34a614-10bdxmplf1fb44f07bc535a1   SegmentId: 07f5xmpl2d1f6f85 Sampled: true",
        "[INFO] the REPORT for today is ready",
        "",
        '{"time":"2024-02-09T08:42:44.078Z","type":"platform.start","record":{"requestId":"d661f7cf"}}',
        '{"time":"2020-08-20T12:31:32.123Z","type":"platform.fault","record":"RequestId: d783 Process exited"}',
        '{"level":"INFO","message":"Just some logs here"}',
    ],
)
def test_report_line_other_lines_give_none(line: str) -> None:
    assert parse_report_line(line) is None


def test_report_line_json_platform_report() -> None:
    line = (
        '{"time":"2022-10-21T14:05:05.766Z","type":"platform.report","record":{"requestId":'
        '"459921b5-681c-4a96-beb0-81e0aa586026","metrics":{"durationMs":2599.4,"billedDurationMs":2600,'
        '"memorySizeMB":128,"maxMemoryUsedMB":94,"initDurationMs":549.04},"tracing":{"spanId":"24cd7d670fa455f0",'
        '"type":"X-Amzn-Trace-Id","value":"Root=1-6352a70e-1e2c502e358361800241fd45;Parent=35465b3a9e2f7c6a;'
        'Sampled=1"},"status":"success"}}'
    )
    report = parse_report_line(line)

    assert report is not None
    assert report["kind"] == "REPORT"
    assert report["request_id"] == "459921b5-681c-4a96-beb0-81e0aa586026"
    assert report["duration_ms"] == 2599.4
    assert report["billed_ms"] == 2600.0
    assert report["memory_mb"] == 128
    assert report["max_memory_mb"] == 94
    assert report["init_ms"] == 549.04
    assert report["status"] == "success"
    assert report["xray_trace_id"] == "1-6352a70e-1e2c502e358361800241fd45"
    assert report["xray_segment_id"] == "35465b3a9e2f7c6a"
    assert report["xray_sampled"] is True
    assert report["timestamp"] == 1666361105.766


def test_report_line_json_init_report() -> None:
    line = (
        '{"time":"2024-01-01T00:00:00Z","type":"platform.initReport","record":{"initializationType":"on-demand",'
        '"phase":"init","status":"error","errorType":"Runtime.ExitError","metrics":{"durationMs":154.03}}}'
    )
    report = parse_report_line(line)

    assert report is not None
    assert report["kind"] == "INIT_REPORT"
    assert report["init_ms"] == 154.03
    assert report["phase"] == "init"
    assert report["error_type"] == "Runtime.ExitError"


def test_report_line_json_message_wrapping_text() -> None:
    line = (
        '{"fields":null,"level":"info","timestamp":"2018-05-17T14:46:28+08:00","message":"REPORT RequestId: '
        'fb63a8b6-599d-11e8-a437-911ac44bc0b4\\tDuration: 18018.26 ms\\tBilled Duration: 18000 ms \\t'
        'Memory Size: 512 MB\\tMax Memory Used: 82 MB\\t"}'
    )
    report = parse_report_line(line)

    assert report is not None
    assert report["duration_ms"] == 18018.26
    assert report["billed_ms"] == 18000.0
    assert report["memory_mb"] == 512


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("REPORT RequestId: a Duration: abc ms Billed Duration: 1 ms", "Duration"),
        ("REPORT RequestId: a Duration: 1.0 ms Billed Duration: -3 ms", "Billed Duration"),
        ("REPORT RequestId: a Duration: 1.0 ms Memory Size: 128 ms", "Memory Size"),
        ('{"type":"platform.report","record":{"metrics":{"durationMs":"fast"}}}', "durationMs"),
        ('{"type":"platform.report","record":"broken"}', "record"),
    ],
)
def test_report_line_malformed_field_raises(line: str, field: str) -> None:
    with pytest.raises(ReportFormatError, match=field):
        parse_report_line(line)


def stream_files(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "lambda_logs" / "streams").glob("*.log"))


# File name prefix -> (REPORT count, INIT_REPORT + RESTORE_REPORT count) in the text streams.
STREAM_COUNTS = {
    "13": (0, 4),
    "24": (3, 0),
    "25": (1, 4),
    "31": (2, 0),
    "32": (1, 2),
}


def test_stream_files_each_parse(shared_data: Path) -> None:
    files = stream_files(shared_data)
    assert len(files) == 32

    for path in files:
        scan = parse_report_text(path.read_text(encoding="utf-8"))
        reports = [report for report in scan.reports if report["kind"] == "REPORT"]
        others = [report for report in scan.reports if report["kind"] != "REPORT"]
        expected = STREAM_COUNTS.get(path.name[:2], (1, 0))
        assert (len(reports), len(others)) == expected, path.name
        assert not scan.skipped, path.name
        assert all(report["duration_ms"] is not None for report in reports), path.name


def test_stream_wrapped_report_is_joined(shared_data: Path) -> None:
    path = shared_data / "lambda_logs" / "streams" / "18_awsdocs_suppressed_init_wrapped_report.log"
    scan = parse_report_text(path.read_text(encoding="utf-8"))

    assert len(scan.reports) == 1
    assert scan.reports[0]["duration_ms"] == 3022.91
    assert scan.reports[0]["billed_ms"] == 3000.0
    assert scan.reports[0]["memory_mb"] == 512
    assert scan.reports[0]["max_memory_mb"] == 157
    assert scan.reports[0]["timestamp"] == 1671526802.5


def test_stream_repeated_request_id_kept(shared_data: Path) -> None:
    path = shared_data / "lambda_logs" / "streams" / "31_issue_wazuh_embedded_out_of_order.log"
    scan = parse_report_text(path.read_text(encoding="utf-8"))

    assert [report["duration_ms"] for report in scan.reports] == [2642.34, 2592.97]
    assert {report["request_id"] for report in scan.reports} == {"533dca35-3ef3-4824-8632-ea4846bcd532"}


# File name prefix -> (REPORT count, invalid JSON documents skipped, first report's billed ms).
JSON_FILE_EXPECTED = {
    "01": (1, 0, 27.0),
    "02": (1, 0, 27.0),
    "03": (1, 0, 47.0),
    "04": (1, 1, 300.0),
    "05": (0, 1, None),
    "06": (0, 1, None),
    "07": (1, 0, 2.0),
    "08": (1, 0, 201.0),
    "09": (1, 0, 4.0),
    "10": (1, 1, 8.0),
    "11": (1, 0, 2600.0),
    "12": (1, 0, 123.0),
    "13": (1, 0, 18000.0),
}


def test_json_files_parse_or_count_skips(shared_data: Path) -> None:
    files = sorted((shared_data / "lambda_logs" / "json").iterdir())
    assert [path.name[:2] for path in files] == sorted(JSON_FILE_EXPECTED)

    for path in files:
        scan = parse_report_text(path.read_text(encoding="utf-8"))
        reports, skipped, billed = JSON_FILE_EXPECTED[path.name[:2]]
        assert len(scan.reports) == reports, path.name
        assert scan.skipped["invalid JSON"] == skipped, path.name
        assert len(scan.problems) == skipped, path.name
        if billed is not None:
            assert scan.reports[0]["billed_ms"] == billed, path.name


def test_json_invalid_file_problem_names_line(shared_data: Path) -> None:
    path = shared_data / "lambda_logs" / "json" / "05_awsdocs_telemetry_platform_report_INVALID_trailing_comma.json"
    scan = parse_report_text(path.read_text(encoding="utf-8"))

    assert scan.problems == [
        "line 1: invalid JSON (Expecting property name enclosed in double quotes at line 13 column 5); "
        "skipped the document"
    ]


def test_json_page_event_timestamp_is_report_time(shared_data: Path) -> None:
    path = shared_data / "lambda_logs" / "json" / "02_awsdocs_get_log_events_page.json"
    scan = parse_report_text(path.read_text(encoding="utf-8"))

    assert scan.reports[0]["timestamp"] == 1559763003.218
    assert scan.reports[0]["request_id"] == "4ce9340a-b765-490f-ad8a-02ab3415e2bf"


def test_log_events_from_page_give_start_and_end(shared_data: Path) -> None:
    page = json.loads((shared_data / "lambda_logs" / "json" / "02_awsdocs_get_log_events_page.json").read_text())
    invocations = parse_log_events(page["events"])

    assert len(invocations) == 1
    assert invocations[0]["end"] == 1559763003.218
    assert invocations[0]["start"] == pytest.approx(1559763003.218 - 0.02673)
    assert invocations[0]["cold"] is False


def test_log_events_cold_start_flagged() -> None:
    events = [
        {
            "timestamp": 1_700_000_003_000,
            "message": "REPORT RequestId: a\tDuration: 3000.00 ms\tBilled Duration: 3120 ms\tMemory Size: 1024 MB\t"
            "Max Memory Used: 60 MB\tInit Duration: 119.50 ms\t\n",
            "logStreamName": "2025/01/01/[$LATEST]abc",
            "eventId": "1",
        }
    ]
    invocation = parse_log_events(events)[0]

    assert invocation["start"] == 1_700_000_000.0
    assert invocation["end"] == 1_700_000_003.0
    assert invocation["cold"] is True
    assert invocation["init_ms"] == 119.5
    assert invocation["log_stream"] == "2025/01/01/[$LATEST]abc"


def test_log_events_broken_inputs_skipped_with_counts() -> None:
    report = "REPORT RequestId: a\tDuration: 10.00 ms\tBilled Duration: 10 ms"
    events: list[Any] = [
        {"timestamp": 1000, "message": report, "eventId": "e1"},
        {"timestamp": 1000, "message": report, "eventId": "e1"},
        {"timestamp": 2000, "message": "REPORT RequestId: b\tDuration: x ms"},
        {"timestamp": "never", "message": report},
        {"timestamp": 3000},
        "not an event",
        {"timestamp": 4000, "message": "REPORT RequestId: c\tBilled Duration: 1 ms"},
        {"timestamp": 5000, "message": "INIT_REPORT Init Duration: 99.65 ms\tPhase: init\tStatus: error"},
        {"timestamp": 6000, "message": "START RequestId: d Version: $LATEST"},
    ]
    scan = scan_log_events(events)

    assert len(scan.invocations) == 1
    assert len(scan.init_failures) == 1
    assert scan.skipped == {
        "duplicate event": 1,
        "malformed report": 1,
        "no timestamp": 1,
        "no message": 2,
        "no duration": 1,
    }
    assert len(scan.problems) == 6


def test_log_events_warn_about_skips(caplog: pytest.LogCaptureFixture) -> None:
    events = [{"timestamp": 1000, "message": "REPORT RequestId: b\tDuration: x ms"}]

    assert parse_log_events(events) == []
    assert "skipped 1 log events (1 malformed report)" in caplog.text


def waves_of(count: int, width: int, seconds: float, cold_init_ms: float | None = None) -> list[dict[str, Any]]:
    records = []
    for index in range(count):
        wave = index // width
        records.append(
            {
                "start": wave * seconds,
                "end": (wave + 1) * seconds,
                "init_ms": cold_init_ms if wave == 0 else None,
            }
        )
    return records


def test_profile_565_items_in_waves_of_40() -> None:
    profile = concurrency_profile(waves_of(565, 40, 3.0, cold_init_ms=120.0))

    assert profile.peak == 40
    assert profile.waves == 15
    assert profile.invocations == 565
    assert profile.cold_starts == 40
    assert profile.init_ms == [120.0] * 40
    assert profile.median_init_ms == 120.0
    assert profile.median_duration_s == 3.0
    assert profile.span_s == 45.0
    assert profile.series == [40] * 42 + [5] * 3
    assert profile.peak_offset_s == 0.0


def test_profile_half_second_resolution() -> None:
    profile = concurrency_profile(waves_of(6, 2, 1.0), resolution_s=0.5)

    assert profile.series == [2, 2, 2, 2, 2, 2]
    assert profile.waves == 3


def test_profile_overlapping_refill_counts_generations() -> None:
    # Two slots, each refilled as soon as its 2 s item ends, the second one offset by 1 s.
    starts = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    records = [{"start": start, "end": start + 2.0} for start in starts]
    profile = concurrency_profile(records)

    assert profile.waves == 3
    assert profile.peak == 2


def test_profile_staggered_starts_form_one_wave() -> None:
    records = [{"start": float(index) * 0.1, "end": 10.0} for index in range(10)]
    profile = concurrency_profile(records)

    assert profile.waves == 1
    assert profile.peak == 10
    assert profile.peak_offset_s == pytest.approx(0.9)


def test_profile_reads_result_file_records() -> None:
    records = [
        {"start": 0.0, "end": 1.0, "init_s": 0.25, "cold": True},
        {"start": 0.0, "end": 1.0, "init_s": 0.0, "cold": False},
    ]
    profile = concurrency_profile(records)

    assert profile.cold_starts == 1
    assert profile.init_ms == [250.0]


def test_profile_empty_input() -> None:
    profile = concurrency_profile([])

    assert profile.peak == 0
    assert profile.waves == 0
    assert profile.series == []
    assert profile.median_init_ms is None


def test_profile_rejects_zero_resolution() -> None:
    with pytest.raises(ValueError, match="resolution_s is 0"):
        concurrency_profile([], resolution_s=0)
