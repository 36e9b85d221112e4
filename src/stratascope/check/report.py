"""The three renderings of a checklist: a Rich table, JSON and a Markdown report."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from .model import CheckItem

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def summary(items: list[CheckItem]) -> str:
    counts = Counter(item.status for item in items)
    return ", ".join(f"{counts.get(s, 0)} {s}" for s in ("pass", "warn", "fail"))


def print_table(items: list[CheckItem], store_url: str, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"stratascope check {store_url}", show_lines=True)
    for column in ("item", "status", "figure", "meaning for stratascope"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(item.title, f"[{_STYLE[item.status]}]{item.status}[/]", item.figure, item.meaning)
    console.print(table)
    console.print(summary(items))


def to_json(items: list[CheckItem]) -> str:
    return json.dumps([item.as_dict() for item in items], indent=2)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(items: list[CheckItem], store_url: str, write_probe: str | None) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Storage check: `{store_url}`",
        "",
        f"Run {stamp}; write probe: {f'`{write_probe}`' if write_probe else 'none (read-only)'}.",
        f"Result: **{summary(items)}**. See docs/checklist.md for what each item means and its thresholds.",
        "",
        "| # | item | status | figure | meaning for stratascope |",
        "|---|---|---|---|---|",
    ]
    for number, item in enumerate(items, 1):
        lines.append(f"| {number} | {_cell(item.title)} (`{item.id}`) | **{item.status}** | "
                     f"{_cell(item.figure)} | {_cell(item.meaning)} |")
    return "\n".join(lines) + "\n"
