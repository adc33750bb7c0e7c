"""The complete reader x treatment x case design of an MRMC analysis, built from a long table.

References
----------
Smith BJ, Hillis SL (2020). Proc. SPIE 11316:113160K (R package MRMCaov: the same long format).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis._validation import as_1d, as_binary_truth, as_scores, check_same_length

__all__ = ["MRMCData", "ratings_from_long_table"]


def _level_key(values) -> list:
    """Sorted distinct values: numerically when every value reads as a number, else as text."""
    distinct = list(dict.fromkeys(values.tolist()))
    try:
        return sorted(distinct, key=lambda v: (float(v), str(v)))
    except (TypeError, ValueError):
        return sorted(distinct, key=str)


@dataclass(frozen=True, eq=False)
class MRMCData:
    """A complete MRMC design: ``ratings[t, r, c]`` and ``truth[c]`` with their level names."""

    treatments: tuple
    readers: tuple
    cases: tuple
    truth: np.ndarray
    ratings: np.ndarray


def ratings_from_long_table(reader, treatment, case, truth, rating) -> MRMCData:
    """Build the complete treatment x reader x case rating array from a long table.

    Parameters
    ----------
    reader, treatment, case : arrays of shape (n_rows,)
        Identifiers of each row (any hashable values).
    truth : array of shape (n_rows,)
        Binary truth of the row's case (0/1 or booleans); must be the same on every row of a case.
    rating : array of shape (n_rows,)
        Numeric rating (higher = more likely positive).

    Returns
    -------
    MRMCData
        Treatments, readers and cases in sorted order (numeric order when all identifiers read as
        numbers), ``truth`` of shape (c,) and ``ratings`` of shape (t, r, c).

    Raises
    ------
    ValueError
        On missing values, a duplicated reader/treatment/case row, a case whose truth differs
        between rows, or an incomplete design (a reader without a rating of some case in some
        treatment), naming the reader, treatment and case.

    Examples
    --------
    >>> d = ratings_from_long_table([1, 1, 1, 1], ["A", "A", "B", "B"], [1, 2, 1, 2],
    ...                             [0, 1, 0, 1], [1, 3, 2, 2])
    >>> d.ratings.shape
    (2, 1, 2)
    """
    reader = as_1d(reader, "reader", dtype=object)
    treatment = as_1d(treatment, "treatment", dtype=object)
    case = as_1d(case, "case", dtype=object)
    truth_arr = as_1d(truth, "truth")
    rating_arr = as_scores(rating, "rating")
    check_same_length(
        reader=reader, treatment=treatment, case=case, truth=truth_arr, rating=rating_arr
    )
    row_truth = as_binary_truth(truth_arr, "truth")

    levels = {}
    codes = {}
    for name, values in (("treatment", treatment), ("reader", reader), ("case", case)):
        lv = _level_key(values)
        index = {v: i for i, v in enumerate(lv)}
        levels[name] = lv
        codes[name] = np.fromiter((index[v] for v in values.tolist()), np.intp, values.size)
    t, r, c = (len(levels[k]) for k in ("treatment", "reader", "case"))
    ti, ri, ci = codes["treatment"], codes["reader"], codes["case"]

    flat = (ti * r + ri) * c + ci
    uniq, first, counts = np.unique(flat, return_index=True, return_counts=True)
    if (counts > 1).any():
        row = int(first[np.flatnonzero(counts > 1)[0]])
        raise ValueError(
            f"rating: reader {reader[row]!r} rated case {case[row]!r} more than once in "
            f"treatment {treatment[row]!r}; expected one rating per reader, treatment and case"
        )

    case_truth = np.zeros(c, dtype=bool)
    case_truth[ci] = row_truth
    bad = np.flatnonzero(case_truth[ci] != row_truth)
    if bad.size:
        k = case[bad[0]]
        raise ValueError(f"truth: case {k!r} has different truth values on different rows")

    ratings = np.full(t * r * c, np.nan)
    ratings[flat] = rating_arr
    ratings = ratings.reshape(t, r, c)
    missing = np.isnan(ratings)
    if missing.any():
        i, j, k = (int(a[0]) for a in np.nonzero(missing))
        n_missing = int(missing[i, j].sum())
        raise ValueError(
            f"incomplete design: reader {levels['reader'][j]!r} has no rating of "
            f"{n_missing} case(s) in treatment {levels['treatment'][i]!r} "
            f"(e.g. case {levels['case'][k]!r}); {int(missing.sum())} of {t * r * c} "
            f"reader x treatment x case ratings are missing. The Obuchowski-Rockette analysis "
            f"here needs every reader to rate every case in every treatment"
        )
    if case_truth.all() or not case_truth.any():
        raise ValueError("truth: a single class in truth across cases")
    return MRMCData(
        treatments=tuple(levels["treatment"]),
        readers=tuple(levels["reader"]),
        cases=tuple(levels["case"]),
        truth=case_truth,
        ratings=ratings,
    )
