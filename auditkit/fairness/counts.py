"""Group confusion counts: one `np.bincount` over (cell, label, prediction) gives every group's confusion matrix.

Rows are first mapped to the finest partition (the cross of all sensitive attributes); every attribute and every
intersection is then a sum of those cells, so the rows are read once whatever the number of groupings.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

INTERSECTION_SEPARATOR = "&"
_DENSE_CELL_LIMIT = 5_000_000


@dataclass(frozen=True)
class ConfusionCounts:
    """Confusion counts per group; arrays of shape (..., n_groups), float64 so replicates and sweeps broadcast."""

    tn: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tp: np.ndarray

    @property
    def count(self) -> np.ndarray:
        return self.tn + self.fp + self.fn + self.tp

    @classmethod
    def from_cells(cls, cells: np.ndarray) -> "ConfusionCounts":
        """From an array (..., n_groups, 4) ordered (tn, fp, fn, tp)."""
        cells = np.asarray(cells, dtype=np.float64)
        return cls(cells[..., 0], cells[..., 1], cells[..., 2], cells[..., 3])


@dataclass(frozen=True)
class Grouping:
    """One attribute or one intersection of attributes, with its groups in sorted order."""

    name: str
    attributes: tuple[str, ...]
    groups: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]  # each group's value of every attribute
    cell_group: np.ndarray  # group index of every cell of the finest partition

    @property
    def is_intersection(self) -> bool:
        return len(self.attributes) > 1


@dataclass(frozen=True)
class Partition:
    """Rows mapped to the cells of the cross of all attributes, and the groupings built from those cells."""

    row_cell: np.ndarray
    n_cells: int
    groupings: tuple[Grouping, ...]

    def row_groups(self, grouping: Grouping) -> np.ndarray:
        """Group index of every row for one grouping."""
        return grouping.cell_group[self.row_cell]


def _factorize(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    try:
        codes, uniques = pd.factorize(column, sort=True)
    except TypeError:  # mixed types that do not sort: order by their text
        codes, uniques = pd.factorize(column.astype(str), sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def build_partition(
    sensitive: pd.DataFrame, *, intersections: bool, max_intersection: int = 3
) -> Partition:
    """Encode the attributes and their intersections (every combination of 2..max_intersection attributes)."""
    names = [str(c) for c in sensitive.columns]
    codes, levels = zip(*(_factorize(sensitive[c]) for c in sensitive.columns))
    sizes = [len(lv) for lv in levels]
    total = int(np.prod(sizes, dtype=np.float64))
    joint = np.zeros(len(sensitive), dtype=np.int64)
    if total <= _DENSE_CELL_LIMIT:
        for c, size in zip(codes, sizes):
            joint = joint * size + c
        present = np.flatnonzero(np.bincount(joint, minlength=total))
        remap = np.full(total, -1, dtype=np.int64)
        remap[present] = np.arange(len(present))
        row_cell = remap[joint]
        cell_codes = np.stack(np.unravel_index(present, sizes), axis=1)
    else:
        stacked = np.stack(codes, axis=1)
        cell_codes, row_cell = np.unique(stacked, axis=0, return_inverse=True)
        row_cell = row_cell.ravel()
    subsets = [(i,) for i in range(len(names))]
    if intersections:
        for k in range(2, min(max_intersection, len(names)) + 1):
            subsets += list(combinations(range(len(names)), k))
    groupings = []
    for subset in subsets:
        keys, cell_group = np.unique(cell_codes[:, subset], axis=0, return_inverse=True)
        values = tuple(tuple(levels[a][code] for a, code in zip(subset, key)) for key in keys)
        groups = tuple(INTERSECTION_SEPARATOR.join(v) for v in values)
        attrs = tuple(names[a] for a in subset)
        groupings.append(Grouping(INTERSECTION_SEPARATOR.join(attrs), attrs, groups, values, cell_group.ravel()))
    return Partition(row_cell, len(cell_codes), tuple(groupings))


def cell_confusion(row_cell: np.ndarray, n_cells: int, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Confusion counts of every cell, (n_cells, 4) ordered (tn, fp, fn, tp): the one pass over the rows."""
    index = row_cell * 4 + (y_true.astype(np.int64) << 1) + y_pred
    return np.bincount(index, minlength=n_cells * 4).reshape(n_cells, 4)


def group_cells(cells: np.ndarray, grouping: Grouping) -> np.ndarray:
    """Sum cell counts (..., n_cells, 4) into the grouping's groups (..., n_groups, 4)."""
    onehot = np.zeros((len(grouping.cell_group), len(grouping.groups)))
    onehot[np.arange(len(grouping.cell_group)), grouping.cell_group] = 1.0
    return np.einsum("...cj,cg->...gj", cells, onehot)
