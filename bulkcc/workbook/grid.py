"""A sheet's rows below the header as a matrix, which of its cells hold something, and its frames.

A full sheet is 100,000 rows x 100 columns: 10 million cells, 86% of them blank
in a real workbook. Visiting each in Python (is it blank? is its row blank?)
cost seconds; here the rows are laid out once in a numpy object matrix and the
blank cells are found with whole-matrix comparisons at C speed. Only the cells
that compare unequal to "" (calamine's and the csv module's empty cell) are
looked at again, and only as each column's distinct values: a column whose
values include a blank of another form (None, NaN, pd.NA, text of only spaces)
is checked cell by cell, so a cell is blank here exactly when `values.is_blank`
says so. The Sheet's frames are then built on the same matrix, blanked in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bulkcc.values import is_blank


@dataclass
class Grid:
    """The cells as read ("" where a row was shorter), and which ones hold something."""

    cells: np.ndarray  # (rows, width), dtype object
    filled: np.ndarray  # (rows, width), dtype bool: not blank

    @property
    def width(self) -> int:
        return int(self.cells.shape[1])

    def take(self, positions: Iterable[int], texts: frozenset[Any]) -> dict[int, list[tuple[int, Any]]]:
        """The filled cells at `positions` (ascending) whose value is one of `texts`, as (position,
        value) by row, in column order; each is blank from then on."""
        found: dict[int, list[tuple[int, Any]]] = {}
        for position in positions:
            rows = self.filled[:, position].nonzero()[0]
            values = self.cells[rows, position]
            if texts.isdisjoint(values):  # the common case, at C speed
                continue
            for r, value in zip(rows.tolist(), values, strict=True):
                if value in texts:
                    found.setdefault(r, []).append((position, value))
                    self.filled[r, position] = False
        return found

    def frames(self, kept: np.ndarray, extra: int, index: pd.Index, *kinds: dict[str, int]) -> list[pd.DataFrame]:
        """A frame for each of `kinds` (column name -> position): the `kept` rows' cells, None where
        blank, then `extra` rows of None; `index` labels the rows. Call it once: it blanks the matrix.

        10 million cells are 80 MB: a fresh copy of each frame cost more than the rest of the
        reading (memory first touched is slow), so the frame of every column owns the matrix and
        the frame of the same columns again is a copy-on-write view of it.
        """
        cells = self.cells
        cells[~self.filled] = None
        if len(kept) < len(cells):
            cells = cells[kept]
        if extra:
            cells = np.vstack([cells, np.full((extra, self.width), None, dtype=object)])
        every, owned = list(range(self.width)), False
        frames: list[pd.DataFrame] = []
        built: dict[tuple[tuple[str, int], ...], pd.DataFrame] = {}
        for positions in kinds:
            key = tuple(positions.items())
            if key in built:
                frames.append(built[key].copy(deep=False))
                continue
            at = list(positions.values())
            owner = not owned and at == every
            owned = owned or owner
            built[key] = frame = pd.DataFrame(cells if owner else cells[:, at], columns=list(positions), index=index,
                                              dtype=object, copy=False)
            frames.append(frame)
        return frames


def room(height: int, width: int) -> np.ndarray | None:
    """An object matrix for a sheet's cells, its memory touched now (None if it cannot be had).

    Memory first touched is slow (on a shared VM 80 MB took from 0.1 s to 1 s): the reader asks
    for the room while calamine parses the sheet, which it does without the GIL, on another core.
    """
    if height <= 0 or width <= 0:
        return None
    try:
        cells = np.empty((height, width), dtype=object)
        cells.fill(None)
    except MemoryError:
        return None
    return cells


def into(cells: np.ndarray | None, rows: list[list[Any]]) -> np.ndarray | list[list[Any]]:
    """The rows placed in `cells` when they fit it exactly; else the rows as they are."""
    if cells is None or len(rows) != len(cells) or any(len(row) != cells.shape[1] for row in rows):
        return rows
    try:
        cells[...] = rows
    except ValueError:  # a cell numpy takes for a sequence (calamine gives none): keep the rows
        return rows
    return cells


def _matrix(rows: Sequence[Sequence[Any]] | np.ndarray, width: int) -> np.ndarray:
    """The rows as an object matrix, each padded with "" to `width` (calamine's are all equally wide)."""
    if isinstance(rows, np.ndarray) and rows.ndim == 2 and rows.shape[1] == width and rows.dtype == object:
        return rows  # laid out by `into` already
    padded = [row if len(row) == width else [*row, *[""] * (width - len(row))] for row in rows]
    if not padded:
        return np.empty((0, width), dtype=object)
    try:
        cells = np.array(padded, dtype=object)
        if cells.shape == (len(padded), width):
            return cells
    except ValueError:  # cells that are sequences of unequal lengths (only from a sheet built in memory)
        pass
    # numpy took cells that are sequences for a further dimension: place each cell as it is.
    cells = np.empty((len(padded), width), dtype=object)
    for r, row in enumerate(padded):
        for c, value in enumerate(row):
            cells[r, c] = value
    return cells


def _not_blank(cells: np.ndarray) -> np.ndarray:
    return np.frompyfunc(lambda v: not is_blank(v), 1, 1)(cells).astype(bool)


def _any_blank(values: set[Any]) -> bool:
    """Whether any of these values (none of them "") is blank: text of only blanks, or missing."""
    texts = [v for v in values if v.__class__ is str]
    return any(map(str.isspace, texts)) or any(is_blank(v) for v in values if v.__class__ is not str)


def _filled(cells: np.ndarray) -> np.ndarray:
    try:
        filled = np.not_equal(cells, "")
        # Blank in other forms is rare, and a sheet's values repeat (hours, flags): each distinct
        # value of the whole sheet is tested once, then each column only when one was blank.
        if _any_blank(set(cells[filled].tolist())):
            for c in range(cells.shape[1]):
                column = cells[:, c]
                if _any_blank(set(column[filled[:, c]].tolist())):
                    filled[:, c] = _not_blank(column)
        return filled
    except (TypeError, ValueError):  # a value that does not compare or hash plainly (pd.NA, a list, an array)
        return _not_blank(cells)


def grid_of(rows: Sequence[Sequence[Any]] | np.ndarray, width: int) -> Grid:
    """The rows as a Grid at least `width` wide (wider when a row runs past it)."""
    if isinstance(rows, np.ndarray):
        width = max(width, rows.shape[1])
    else:
        width = max(width, max(map(len, rows), default=0))
    cells = _matrix(rows, width)
    return Grid(cells, _filled(cells))
