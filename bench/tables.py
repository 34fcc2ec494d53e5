"""Text renderings of comparison DataFrames: terminal table, Markdown, CSV and JSON.

The terminal and Markdown forms format each column by its kind (seconds,
USD, ratio...); CSV and JSON carry the raw values under the column keys, with
NaN written as an empty cell or null. The terminal form splits a long header
over two lines and pads columns by no more than their contents, to keep the
table narrow.
"""

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

FORMATS = ("table", "markdown", "csv", "json")
MISSING = "-"
# A terminal-table header longer than this is split over two lines at the space nearest its middle.
MAX_HEADER_LINE = 9


@dataclass(frozen=True)
class Column:
    """One displayed column: the DataFrame key, its header and how to format a value."""

    key: str
    header: str
    kind: str = "text"  # a key of FORMATTERS


def _number(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return pattern.format(value)


def format_count(value: Any) -> str:
    """Return a count as a whole number, or with one decimal when it is a median between two counts."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def format_usd(value: Any) -> str:
    """Return a USD amount: cents from one dollar up, four significant digits below, so no run shows as $0.00."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return "$" + np.format_float_positional(value, precision=4, unique=False, fractional=False, trim="k")


def format_relative(value: Any) -> str:
    """Return a median ratio as hyperfine's relative column reads: 4.00x faster, 1.50x slower."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if round(value, 2) == 1.0 or round(1 / value, 2) == 1.0:
        return "1.00x"
    return f"{1 / value:.2f}x faster" if value < 1 else f"{value:.2f}x slower"


def format_p_value(value: Any) -> str:
    """Return a p-value with three significant digits, or "<0.001"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return "<0.001" if value < 0.001 else f"{value:.3g}"


def format_flag(value: Any) -> str:
    """Return yes, no, or the missing mark for a boolean that does not apply."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return "yes" if value else "no"


FORMATTERS: dict[str, Callable[[Any], str]] = {
    "text": lambda value: MISSING if value is None else str(value),
    "formatted": lambda value: MISSING if value is None else str(value),  # formatted already, aligned right
    "count": format_count,
    "seconds": lambda value: _number(value, "{:.2f}"),
    "usd": format_usd,
    "ratio": format_relative,
    "percent": lambda value: _number(value, "{:+.1%}"),
    "share": lambda value: _number(value, "{:.0%}"),
    "p": format_p_value,
    "flag": format_flag,
}


def render_table(df: pd.DataFrame, columns: Sequence[Column], fmt: str) -> str:
    """Render the `columns` of `df` as a terminal table, Markdown, CSV or JSON."""
    if fmt == "json":
        return render_json(df, columns)
    if fmt == "csv":
        return render_csv(df, columns)
    if fmt not in ("table", "markdown"):
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")

    rows = [[FORMATTERS[column.kind](record.get(column.key)) for column in columns] for record in _records(df)]
    alignment = ["left" if column.kind == "text" else "right" for column in columns]
    if fmt == "table":
        return render_terminal(rows, [wrap_header(column.header) for column in columns], alignment)
    return tabulate(
        rows,
        headers=[column.header for column in columns],
        tablefmt="github",
        colalign=alignment,
        disable_numparse=True,
    )


def render_terminal(rows: Sequence[Sequence[str]], headers: Sequence[str], alignment: Sequence[str]) -> str:
    """Return a plain-text table: headers bottom-aligned over a dashed rule, columns two spaces apart.

    Each column is as wide as its widest header line or cell. tabulate's
    "simple" format looks the same but pads every header by two more characters.
    """
    header_lines = [header.split("\n") for header in headers]
    depth = max((len(lines) for lines in header_lines), default=1)
    header_rows = [[""] * (depth - len(lines)) + lines for lines in header_lines]
    widths = [
        max([len(line) for line in header_rows[index]] + [len(row[index]) for row in rows])
        for index in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if align == "left" else cell.rjust(width)
            for cell, width, align in zip(cells, widths, alignment)
        ]
        return "  ".join(padded).rstrip()

    lines = [line([column[level] for column in header_rows]) for level in range(depth)]
    lines.append("  ".join("-" * width for width in widths))
    lines += [line(row) for row in rows]
    return "\n".join(lines)


def wrap_header(header: str) -> str:
    """Return `header` split over two lines at the space nearest its middle when longer than MAX_HEADER_LINE.

    A header that already contains a line break is returned unchanged.
    """
    spaces = [index for index, character in enumerate(header) if character == " "]
    if len(header) <= MAX_HEADER_LINE or not spaces or "\n" in header:
        return header
    split = min(spaces, key=lambda index: max(index, len(header) - index - 1))
    return header[:split] + "\n" + header[split + 1 :]


def render_json(df: pd.DataFrame, columns: Sequence[Column]) -> str:
    """Return a JSON list with one object per row holding exactly the columns' keys (NaN as null)."""
    objects = [
        {column.key: plain_value(record.get(column.key), column.kind) for column in columns} for record in _records(df)
    ]
    return json.dumps(objects, indent=2)


def render_csv(df: pd.DataFrame, columns: Sequence[Column]) -> str:
    """Return CSV with a header of the columns' keys and one line per row (NaN as an empty cell)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([column.key for column in columns])
    for record in _records(df):
        values = [plain_value(record.get(column.key), column.kind) for column in columns]
        writer.writerow(["" if value is None else value for value in values])
    return buffer.getvalue().rstrip("\n")


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return df.to_dict(orient="records")


def plain_value(value: Any, kind: str = "text") -> Any:
    """Return `value` as a JSON-ready Python value: NaN to None, numpy scalars to Python, whole counts to int."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if not isinstance(value, float):
        return value
    if math.isnan(value):
        return None
    if kind == "count" and value.is_integer():
        return int(value)
    # Twelve significant digits drop float noise such as 3.6199999999999997.
    return float(f"{value:.12g}")
