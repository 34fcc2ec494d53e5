"""Speed of the simulator and the CLI. Targets on a 2-core machine:

- `bench run --all` (5 variants x 565 books x 5 repetitions) within 3 s wall, start-up included;
- `bench --help` within 0.3 s;
- one 100,000-item distributed repetition within 10 s.
"""

import subprocess
import sys
from pathlib import Path

from bench.sim import AwsRules, simulate
from bench.workload import Workload
from variants import VARIANTS


def run_command(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "bench.cli", *args], check=True, capture_output=True, timeout=120)


def test_run_all_wall_time(benchmark, tmp_path: Path) -> None:
    benchmark.pedantic(run_command, args=("run", "--all", "--output-dir", str(tmp_path)), rounds=3, iterations=1)


def test_help_start_up(benchmark) -> None:
    benchmark.pedantic(run_command, args=("--help",), rounds=5, iterations=1)


def test_distributed_100k_items(benchmark) -> None:
    items = [{"id": number, "title": f"book {number}"} for number in range(1, 100_001)]

    repetition = benchmark.pedantic(
        simulate,
        args=(VARIANTS["distributed"], items, Workload(3.0, 0.1), AwsRules(), 0),
        rounds=2,
        iterations=1,
    )

    assert repetition.status == "succeeded"


def test_five_variants_565_books_in_process(benchmark) -> None:
    from bench.books import load_reading_list

    items = load_reading_list().items

    def simulate_all() -> None:
        for variant in VARIANTS.values():
            for index in range(5):
                simulate(variant, items, Workload(3.0, 0.1), AwsRules(), 0, index)

    benchmark.pedantic(simulate_all, rounds=3, iterations=1)
