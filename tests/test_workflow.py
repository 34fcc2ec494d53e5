"""The benchmarks workflow parses as YAML and calls only commands and options the project provides."""

import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from bench.cli import app

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "benchmarks.yml"
PROJECT_COMMANDS = {"bench", "pytest", "pip"}


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text("utf-8"))


def run_lines(workflow: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Return (job, tokens) for every command line of every `run:` step, without its output redirection."""
    lines = []
    for job_name, job in workflow["jobs"].items():
        for step in job["steps"]:
            for line in step.get("run", "").replace("\\\n", " ").splitlines():
                tokens = shlex.split(line, comments=True)
                if ">>" in tokens:
                    tokens = tokens[: tokens.index(">>")]
                if tokens:
                    lines.append((job_name, tokens))
    return lines


def bench_options() -> dict[str, set[str]]:
    """Return every `bench` subcommand with the option names it accepts."""
    group = typer.main.get_command(app)
    return {
        name: {option for parameter in command.params for option in parameter.opts + parameter.secondary_opts}
        for name, command in group.commands.items()
    }


def test_triggers(workflow: dict[str, Any]) -> None:
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    triggers = workflow.get("on", workflow.get(True))

    assert set(triggers) == {"push", "pull_request", "workflow_dispatch"}


def test_commands_are_the_projects(workflow: dict[str, Any]) -> None:
    for job, tokens in run_lines(workflow):
        assert tokens[0] in PROJECT_COMMANDS, f"{job}: {' '.join(tokens)}"


def test_bench_subcommands_and_options_exist(workflow: dict[str, Any]) -> None:
    options = bench_options()

    for job, tokens in run_lines(workflow):
        if tokens[0] != "bench":
            continue
        subcommand = tokens[1]
        assert subcommand in options, f"{job}: bench {subcommand} is not a bench command"
        for token in tokens[2:]:
            if token.startswith("--"):
                assert token in options[subcommand], f"{job}: bench {subcommand} has no option {token}"


def test_simulator_job_gates_on_baseline(workflow: dict[str, Any]) -> None:
    commands = [" ".join(tokens) for job, tokens in run_lines(workflow) if job == "simulator"]

    assert "bench run --all --repetitions 5 --seed 1 --output-dir results/ci" in commands
    assert "bench compare results/ci --against results/baseline --max-slowdown 10% --format markdown" in commands
    assert any(command.startswith("pytest") for command in commands)


def test_summary_and_artifacts(workflow: dict[str, Any]) -> None:
    steps = workflow["jobs"]["simulator"]["steps"]
    summary_steps = [step["run"] for step in steps if '>> "$GITHUB_STEP_SUMMARY"' in step.get("run", "")]
    uploads = [step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@")]

    assert summary_steps
    assert len(uploads) == 1
    assert uploads[0]["if"] == "always()"
    assert set(uploads[0]["with"]["path"].split()) == {"results/ci", "report"}


def test_aws_job_is_manual_with_oidc(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["aws"]
    teardown = [step for step in job["steps"] if "bench teardown" in step.get("run", "")]

    assert "github.event_name == 'workflow_dispatch'" in job["if"]
    assert "vars.AWS_ROLE_ARN != ''" in job["if"]
    assert job["permissions"]["id-token"] == "write"
    assert any(step.get("uses", "").startswith("aws-actions/configure-aws-credentials@") for step in job["steps"])
    assert teardown[0]["if"] == "always()"


def test_baseline_folder_exists() -> None:
    baseline = WORKFLOW.parents[2] / "results" / "baseline"

    assert sorted(baseline.glob("*.json")), f"{baseline} has no result file for the regression gate"
