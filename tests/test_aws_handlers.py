"""The Lambda entry points' own logic: event shapes, service times and the timing line."""

import json
import logging
import statistics
from collections.abc import Iterator
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from variants.handlers import lambda_io, worker
from variants.handlers.lambda_io import Invocation, Settings
from variants.handlers.orchestrator import encode_json_lines, stage_items

BOOK = {"id": 7, "title": "Middlemarch"}
RUN = {"run_id": "r", "variant": "sqs", "repetition": 0, "prefix": "sqs/rep-0000/"}
BUCKET = "fanout-bench-test"


def settings(jitter: float = 0.0, work_seconds: float = 3.0) -> Settings:
    return Settings(
        run_id="r", variant="sqs", fan_out="sqs", bucket=BUCKET, batch_size=1, batch_threads=1,
        work_seconds=work_seconds, jitter=jitter, seed=4, state_machine_arn=None, table="t",
        aggregator="a", queue_name="q",
    )


# Books in multi-byte UTF-8, and with U+2028 and U+0085, which json.dumps leaves unescaped
# and str.splitlines would take for line breaks.
LINE_BOOKS = [
    {"id": 1, "title": "Ærøskøbing"},
    {"id": 2, "title": "one\u2028two"},
    {"id": 3, "title": "next\u0085line", "shelves": ["a", "b"]},
    {"id": 4, "title": "quote \" and newline \n"},
    {"id": 5, "title": "last"},
]


@pytest.fixture
def moto_s3() -> Iterator[object]:
    """Start moto and give the handlers a fresh S3 client inside it."""
    lambda_io.client.cache_clear()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3
    lambda_io.client.cache_clear()


def test_json_lines_one_line_per_book() -> None:
    body, _ = encode_json_lines(LINE_BOOKS, 2)

    lines = body.split(b"\n")
    assert lines[-1] == b""
    assert [json.loads(line) for line in lines[:-1]] == LINE_BOOKS
    assert lines[1] == '{"id":2,"title":"one\u2028two"}'.encode("utf-8")


def test_json_lines_ranges_cover_units() -> None:
    body, ranges = encode_json_lines(LINE_BOOKS, 2)

    assert len(ranges) == 3
    assert ranges[0][0] == 0
    assert ranges[1][0] == sum(ranges[0])
    assert ranges[2][0] == sum(ranges[1])
    assert sum(ranges[2]) == len(body)
    for number, (offset, length) in enumerate(ranges):
        unit = body[offset : offset + length]
        assert unit.endswith(b"\n")
        assert [json.loads(line) for line in unit[:-1].split(b"\n")] == LINE_BOOKS[2 * number : 2 * number + 2]


def test_json_lines_one_range_per_book() -> None:
    body, ranges = encode_json_lines(LINE_BOOKS, 1)

    lengths = [
        len(json.dumps(book, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) + 1 for book in LINE_BOOKS
    ]
    assert [length for _, length in ranges] == lengths
    assert sum(lengths) == len(body)


def test_stage_items_inline_input_refers_to_object() -> None:
    body, execution_input = stage_items("inline-map", 2, RUN, LINE_BOOKS)

    assert execution_input["items_key"] == "sqs/rep-0000/items.jsonl"
    assert execution_input["ranges"] == encode_json_lines(LINE_BOOKS, 2)[1]
    assert execution_input["total"] == 5
    assert execution_input["run"] == RUN
    assert "items" not in execution_input
    assert body == encode_json_lines(LINE_BOOKS, 2)[0]


def test_stage_items_distributed_writes_json_array() -> None:
    body, execution_input = stage_items("distributed-map", 1, RUN, LINE_BOOKS)

    assert execution_input == {"run": RUN, "total": 5, "items_key": "sqs/rep-0000/items.json"}
    assert json.loads(body) == LINE_BOOKS


@pytest.mark.parametrize("unit_size", [1, 2, 5])
def test_read_items_ranged_get_on_moto(moto_s3: object, unit_size: int) -> None:
    body, ranges = encode_json_lines(LINE_BOOKS, unit_size)
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=BUCKET, Key="items.jsonl", Body=body)

    read = []
    with Invocation("worker", None, RUN) as invocation:
        for byte_range in ranges:
            read.append(worker.read_items(settings(), "items.jsonl", byte_range, invocation))

    assert read == [LINE_BOOKS[start : start + unit_size] for start in range(0, len(LINE_BOOKS), unit_size)]
    assert invocation.calls == {"s3_get": len(ranges)}


def test_read_items_rejects_partial_line(moto_s3: object) -> None:
    body, ranges = encode_json_lines(LINE_BOOKS, 1)
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=BUCKET, Key="items.jsonl", Body=body)
    offset, length = ranges[1]

    with Invocation("worker", None, RUN) as invocation:
        with pytest.raises(ValueError, match="are not whole JSON lines"):
            worker.read_items(settings(), "items.jsonl", [offset, length - 1], invocation)


def test_read_items_rejects_range_past_end(moto_s3: object) -> None:
    body, _ = encode_json_lines(LINE_BOOKS, 1)
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=BUCKET, Key="items.jsonl", Body=body)

    with Invocation("worker", None, RUN) as invocation:
        with pytest.raises(ValueError, match=r"\(20 bytes read\)"):
            worker.read_items(settings(), "items.jsonl", [len(body) - 20, 40], invocation)


def test_read_items_rejects_empty_range() -> None:
    with Invocation("worker", None, RUN) as invocation:
        with pytest.raises(ValueError, match=r"byte range \[0, 0\] of s3://fanout-bench-test/items.jsonl is invalid"):
            worker.read_items(settings(), "items.jsonl", [0, 0], invocation)


def test_unpack_distributed_map_child() -> None:
    assert worker.unpack({"item": BOOK, "run": RUN}) == ([BOOK], RUN, None)


def test_unpack_item_batcher_input() -> None:
    other = {"id": 8, "title": "Emma"}
    event = {"Items": [{"item": BOOK, "run": RUN}, {"item": other, "run": RUN}]}

    assert worker.unpack(event) == ([BOOK, other], RUN, None)


def test_unpack_sqs_records() -> None:
    event = {"Records": [{"body": json.dumps({"item": BOOK, "run": RUN, "total": 12})}]}

    assert worker.unpack(event) == ([BOOK], RUN, 12)


def test_unpack_empty_batch_rejected() -> None:
    with pytest.raises(ValueError, match="no books"):
        worker.unpack({"Records": []})


def test_service_time_without_jitter_is_fixed() -> None:
    assert worker.service_time(7, settings(jitter=0.0)) == 3.0


def test_service_time_depends_on_book_only() -> None:
    jittered = settings(jitter=0.5)

    assert worker.service_time(7, jittered) == worker.service_time(7, jittered)
    assert worker.service_time(7, jittered) != worker.service_time(8, jittered)


def test_service_time_keeps_mean() -> None:
    times = [worker.service_time(book_id, settings(jitter=0.3, work_seconds=1.0)) for book_id in range(1, 4001)]

    assert statistics.fmean(times) == pytest.approx(1.0, abs=0.02)


def test_process_sorts_results_by_id() -> None:
    books = [{"id": number, "title": f"Book {number}"} for number in (3, 1, 2)]
    threaded = Settings(**{**settings(work_seconds=0.0).__dict__, "batch_threads": 3})

    results = worker.process(books, threaded)

    assert [result["id"] for result in results] == [1, 2, 3]


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    variables = {
        "FANOUT_RUN_ID": "r", "FANOUT_VARIANT": "per-book", "FANOUT_FAN_OUT": "inline-map", "FANOUT_BUCKET": "b",
        "FANOUT_BATCH_SIZE": "1", "FANOUT_BATCH_THREADS": "4", "FANOUT_WORK_SECONDS": "0.5",
        "FANOUT_JITTER": "0.1", "FANOUT_SEED": "9", "FANOUT_STATE_MACHINE_ARN": "arn:sm",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    loaded = Settings.from_environment()

    assert loaded.batch_threads == 4
    assert loaded.work_seconds == 0.5
    assert loaded.state_machine_arn == "arn:sm"
    assert loaded.table is None


def test_timing_line_logged_on_error() -> None:
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger(lambda_io.TIMING_LOGGER).addHandler(handler)
    try:
        with pytest.raises(KeyError):
            with Invocation("worker", SimpleNamespace(aws_request_id="req-1"), RUN) as invocation:
                invocation.items = 2
                invocation.count("s3_put")
                raise KeyError("id")
    finally:
        logging.getLogger(lambda_io.TIMING_LOGGER).removeHandler(handler)

    record = json.loads(lines[-1])
    assert record["fanout_bench_timing"] == 1
    assert record["request_id"] == "req-1"
    assert record["items"] == 2
    assert record["calls"] == {"s3_put": 1}
    assert record["error"] == "KeyError: 'id'"
    assert record["repetition"] == 0
    assert record["end"] >= record["start"]
