"""The values the document loaders hand to cleaning: structured lines and what was dropped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

# Joins the cells of a table row; visible in quotes so the reader sees where a cell ends.
CELL_SEPARATOR = " · "


@dataclass(frozen=True)
class SourceLine:
    """One block of a document: a heading, a paragraph, a list item or a table row."""

    number: int  # 1-based line (or element) number in the source, for --explain
    text: str
    heading_level: int | None = None  # set when the format marks headings (md, html, ruled text)
    bullet_depth: int | None = None  # None: not a list item; 0: top level, 1: nested...
    row: bool = False  # a table row, its cells named by their column headers
    numbered: bool = False  # a numbered list item ("1.", "2)")


@dataclass(frozen=True)
class Dropped:
    """A piece of a document that is not indexed, with the reason (``ingest.py --explain``)."""

    line: int
    text: str
    reason: str


def table_row_text(header: Sequence[str] | None, cells: Sequence[str]) -> str:
    """A table row as one quotable line: the first cell, then each other cell under its column
    header ("Makeup (mineral) · Earliest: 48 hours"), so a cell never loses what it means."""
    cells = [" ".join(c.split()) for c in cells]
    if not header or len(header) != len(cells):
        return CELL_SEPARATOR.join(c for c in cells if c)
    parts = [cells[0]] if cells[0] else []
    for name, cell in zip(header[1:], cells[1:]):
        if cell:
            parts.append(f"{name}: {cell}" if name else cell)
    return CELL_SEPARATOR.join(parts)


def row_cells(text: str) -> list[str]:
    """A quoted table row's cells as ``table_row_text`` joined them ("Makeup (mineral)",
    "Earliest: 48 hours"), for a page to show one a line; a text that is no row is one cell."""
    return [cell for cell in text.split(CELL_SEPARATOR) if cell.strip()] or [text]
