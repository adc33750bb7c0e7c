"""Shared input checks. Every error names the argument or column and says what was received
and what was expected (scikit-learn style)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def as_1d(values, name: str, *, dtype=None) -> np.ndarray:
    """Return ``values`` as a 1-D array, refusing other shapes, NaN and missing values."""
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: expected at least one value, got none")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        bad = int(np.flatnonzero(np.isnan(arr))[0])
        raise ValueError(f"{name}: contains NaN or missing values (first at position {bad})")
    if arr.dtype == object:
        missing = [
            i for i, v in enumerate(arr) if v is None or (isinstance(v, float) and np.isnan(v))
        ]
        if missing:
            raise ValueError(
                f"{name}: contains missing values (first at position {missing[0]})"
            )
    return arr


def as_scores(values, name: str) -> np.ndarray:
    """A 1-D float array of finite scores."""
    try:
        arr = as_1d(values, name, dtype=float)
    except (TypeError, ValueError) as exc:
        if "NaN" in str(exc) or "expected" in str(exc):
            raise
        raise ValueError(f"{name}: expected numeric scores ({exc})") from None
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name}: contains an infinite value (first at position {bad})")
    return arr


def as_binary_truth(values, name: str = "y_true") -> np.ndarray:
    """A 1-D boolean array with both classes present."""
    arr = as_1d(values, name)
    if arr.dtype != bool:
        uniq = np.unique(arr)
        if not set(uniq.tolist()) <= {0, 1}:
            raise ValueError(
                f"{name}: expected binary truth (0/1 or booleans), got values {uniq[:5].tolist()}"
            )
        arr = arr.astype(bool)
    n_pos = int(arr.sum())
    if n_pos in (0, arr.size):
        only = "positive" if n_pos else "negative"
        raise ValueError(f"{name}: a single class in truth (all {arr.size} cases are {only})")
    return arr


def check_same_length(**arrays) -> int:
    """Refuse arrays of different lengths, naming them."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k} has {v}" for k, v in lengths.items())
        raise ValueError(f"inputs of different lengths: {desc}")
    return next(iter(lengths.values()))


def check_labels(values, levels: Sequence, name: str) -> np.ndarray:
    """Refuse labels that are not in the (ordered) label set ``levels``; return their indices."""
    arr = as_1d(values, name, dtype=object)
    index = {level: i for i, level in enumerate(levels)}
    unknown = sorted({str(v) for v in arr if v not in index})
    if unknown:
        raise ValueError(
            f"{name}: unknown labels {unknown[:5]}; expected one of {list(levels)}"
        )
    return np.fromiter((index[v] for v in arr), dtype=np.intp, count=arr.size)


# --- helpers added for metrics/agreement/paired/bootstrap (append only) ---------------------


def resolve_levels(labels, *arrays, name: str = "labels") -> tuple[list, bool]:
    """The ordered label set: ``labels`` when given (checked for duplicates), otherwise the sorted
    union of the values in ``arrays`` (numeric order when every value is a number).

    Returns ``(levels, observed)`` where ``observed`` tells whether the levels were inferred from
    the data, so that callers can say so.
    """
    if labels is not None:
        levels = list(labels)
        if not levels:
            raise ValueError(f"{name}: expected at least one label, got an empty list")
        seen: set = set()
        dupes = [lv for lv in levels if lv in seen or seen.add(lv)]
        if dupes:
            raise ValueError(f"{name}: duplicate labels {dupes[:5]}; each label must appear once")
        return levels, False
    values: set = set()
    for arr in arrays:
        values.update(np.asarray(arr, dtype=object).ravel().tolist())
    return sort_levels(values), True


def sort_levels(values) -> list:
    """Sort label values: numerically when all are numbers (or numeric strings), else as text."""
    values = list(values)

    def as_number(v):
        if isinstance(v, bool):
            raise TypeError
        if isinstance(v, (int, float, np.integer, np.floating)):
            return float(v)
        return float(str(v))

    try:
        keys = [as_number(v) for v in values]
    except (TypeError, ValueError):
        return sorted(values, key=lambda v: (str(v), type(v).__name__))
    # One number written two ways ("2" and "2.0") would be two categories whose order is
    # arbitrary (set order follows the hash seed), and weighted kappa would depend on it.
    spellings: dict[float, list] = {}
    for key, value in zip(keys, values, strict=True):
        spellings.setdefault(key, []).append(value)
    clashes = [sorted(map(repr, vs)) for vs in spellings.values() if len(vs) > 1]
    if clashes:
        shown = "; ".join(" and ".join(c) for c in sorted(clashes)[:3])
        raise ValueError(
            f"labels: the same number is written in more than one way ({shown}); write each "
            "level one way, or pass the ordered labels explicitly"
        )
    return [v for _, v in sorted(zip(keys, values, strict=True), key=lambda kv: kv[0])]


def as_count_table(table, name: str = "table", *, square: bool = True) -> np.ndarray:
    """A 2-D float array of finite, non-negative counts with a positive total."""
    try:
        arr = np.asarray(table, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a table of numeric counts") from None
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D table of counts, got shape {arr.shape}")
    if square and arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name}: expected a square table (k x k), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN, missing or infinite counts")
    if (arr < 0).any():
        bad = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise ValueError(f"{name}: negative count {arr[bad]:g} at cell {bad}; counts must be >= 0")
    if arr.sum() <= 0:
        raise ValueError(f"{name}: all counts are zero; expected at least one observation")
    return arr


def check_confidence(confidence: float, name: str = "confidence") -> float:
    """A confidence level strictly between 0 and 1."""
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise ValueError(f"{name}: expected a level strictly between 0 and 1, got {confidence!r}")
    return c


def as_bool_1d(values, name: str) -> np.ndarray:
    """A 1-D boolean array from booleans or 0/1 values (e.g. per-case correctness)."""
    arr = as_1d(values, name)
    if arr.dtype == bool:
        return arr
    uniq = set(np.unique(arr).tolist())
    if not uniq <= {0, 1}:
        raise ValueError(f"{name}: expected booleans or 0/1 values, got values {sorted(uniq)[:5]}")
    return arr.astype(bool)
