"""One Markdown page with the comparison, statistics and cost tables and the figures, ready to publish."""

import logging
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from bench import __version__
from bench.compare import (
    comparison_table,
    cost_table,
    load_comparison_frame,
    pooled_settings_notes,
    sim_vs_aws_table,
    succeeded,
)
from bench.compare_output import (
    comparison_section,
    cost_section,
    price_notes,
    sim_vs_aws_section,
    statistics_section,
)
from bench.errors import InputError
from bench.plot import check_output_folder, draw_figures
from bench.stats import DEFAULT_ALPHA

logger = logging.getLogger(__name__)

REPORT_NAME = "report.md"
FIGURES_DIR = "figures"
DEFAULT_BASELINE = "per-book"
FIGURE_CAPTIONS = {
    "concurrency.png": "Running worker invocations over time: the inline Map's plateau at 40, the SQS ramp",
    "progress.png": "Items completed over time: the slope is the throughput",
    "stages.png": "Median stage times, stacked",
}


def write_report(paths: list[Path], out_dir: Path, baseline: str | None = None) -> Path:
    """Write out_dir/report.md and its figures under out_dir/figures, and return the report's path.

    Without `baseline`, the relative column compares with per-book when the
    results contain a succeeded per-book run. Logs a warning for each
    (variant, backend) that pools runs of different settings; the page notes
    them under its comparison table too. Raises InputError before reading
    any result when `out_dir` cannot be a folder.
    """
    check_output_folder(out_dir)
    check_output_folder(out_dir / FIGURES_DIR)
    if (out_dir / REPORT_NAME).is_dir():
        raise InputError(f"--out {out_dir}: {out_dir / REPORT_NAME} is a folder; choose another path")

    df = load_comparison_frame(paths)
    if baseline is None and (succeeded(df)["variant"] == DEFAULT_BASELINE).any():
        baseline = DEFAULT_BASELINE
    comparison_table(df, baseline=baseline)  # rejects an unknown baseline before any figure is drawn
    for note in pooled_settings_notes(df):
        logger.warning("%s", note)

    figures = draw_figures(paths, df, out_dir / FIGURES_DIR)
    page = render_report(df, baseline, [figure.relative_to(out_dir) for figure in figures])

    target = out_dir / REPORT_NAME
    target.write_text(page, "utf-8")
    logger.info("wrote %s", target)
    return target


def render_report(df: pd.DataFrame, baseline: str | None, figures: list[Path]) -> str:
    """Return the Markdown page for the repetitions in `df`, linking `figures` (paths relative to the page)."""
    table = comparison_table(df, baseline=baseline, alpha=DEFAULT_ALPHA)
    sections = [
        "# Fan-out benchmark report",
        _provenance(df),
        comparison_section(table, df, "markdown", baseline),
        statistics_section(df, "markdown"),
        cost_section(cost_table(df), "markdown", price_notes(df)),
    ]
    if not (sim_vs_aws := sim_vs_aws_table(df)).empty:
        sections.append(sim_vs_aws_section(sim_vs_aws, "markdown"))
    sections.append(_figures_section(figures))
    sections.append(_sources_section(df))
    return "\n\n".join(sections) + "\n"


def _provenance(df: pd.DataFrame) -> str:
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    files = df["file"].nunique()
    backends = ", ".join(sorted(df["backend"].unique()))
    regions = ", ".join(sorted(df["region"].unique()))
    # One entry per (input file, item count): `bench run --items N` keeps the file's checksum.
    pairs = df[["input_sha256", "items"]].drop_duplicates().sort_values(["input_sha256", "items"])
    inputs = ", ".join(f"{int(items)} items (sha256 {str(sha)[:12]})" for sha, items in pairs.itertuples(index=False))
    return (
        f"Generated {generated} by fanout-bench {__version__} from {files} result files. "
        f"Backends: {backends}. Regions: {regions}. Inputs: {inputs}."
    )


def _figures_section(figures: list[Path]) -> str:
    lines = ["### Figures", ""]
    for figure in figures:
        caption = FIGURE_CAPTIONS.get(figure.name, _timeline_caption(figure.name))
        lines += [f"**{caption}**", "", f"![{caption}]({figure.as_posix()})", ""]
    return "\n".join(lines).rstrip()


def _timeline_caption(name: str) -> str:
    label = name.removeprefix("timeline-").removesuffix(".png")
    return f"Invocations per execution environment, median run of {label}: red is init (cold start)"


def _sources_section(df: pd.DataFrame) -> str:
    runs = df.groupby("file", sort=True).agg(run_id=("run_id", "first"), created=("created_utc", "first"))
    lines = ["### Result files", ""]
    lines += [f"- `{file}`: run {row.run_id}, created {row.created}" for file, row in runs.iterrows()]
    return "\n".join(lines)
