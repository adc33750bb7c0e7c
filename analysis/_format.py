"""Small conversions shared by the result classes' ``to_dict()`` and ``summary()``."""

from __future__ import annotations

import numpy as np


def num_or_none(value) -> float | None:
    """A float for JSON, with NaN (an undefined statistic) as None (JSON null)."""
    value = float(value)
    return None if np.isnan(value) else value


def jsonable(value):
    """NumPy scalars as plain Python values; anything else unchanged."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def format_p(p, *, missing: str = "n/a", small: str = "<.0001") -> str:
    """A p-value for a text table: four decimals, ``small`` below 1e-4, ``missing`` when
    undefined."""
    if p is None or not np.isfinite(p):
        return missing
    return small if p < 1e-4 else f"{p:.4f}"
