"""Array helpers the ranking path shares: ids looked up in a sorted array, runs of equal values."""
from __future__ import annotations

import numpy as np


def find_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position, found) of each of ``keys`` in ``sorted_keys``: where ``found``,
    ``sorted_keys[position] == key``; elsewhere the position is a valid index, no more."""
    if not len(sorted_keys):
        return np.zeros(np.shape(keys), np.int64), np.zeros(np.shape(keys), bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return at, sorted_keys[at] == keys


def group_starts(grouped: np.ndarray) -> np.ndarray:
    """Where each run of equal values of ``grouped`` (sorted) begins."""
    new = np.empty(len(grouped), bool)
    new[:1] = True
    np.not_equal(grouped[1:], grouped[:-1], out=new[1:])
    return np.flatnonzero(new)
