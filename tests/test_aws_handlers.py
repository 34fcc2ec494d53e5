"""The Lambda entry points' own logic: event shapes, service times and the timing line."""

import json
import logging
import statistics
from types import SimpleNamespace

import pytest

from variants.handlers import lambda_io, worker
from variants.handlers.lambda_io import Invocation, Settings

BOOK = {"id": 7, "title": "Middlemarch"}
RUN = {"run_id": "r", "variant": "sqs", "repetition": 0, "prefix": "sqs/rep-0000/"}


def settings(jitter: float = 0.0, work_seconds: float = 3.0) -> Settings:
    return Settings(
        run_id="r", variant="sqs", fan_out="sqs", bucket="b", batch_size=1, batch_threads=1,
        work_seconds=work_seconds, jitter=jitter, seed=4, state_machine_arn=None, table="t",
        aggregator="a", queue_name="q",
    )


def test_unpack_inline_map_event() -> None:
    assert worker.unpack({"items": [BOOK], "run": RUN}) == ([BOOK], RUN, None)


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
