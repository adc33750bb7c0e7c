"""Paired comparison of two readers (or a reader and the model) on the same cases: McNemar's test
of paired correctness and the difference in accuracy with a confidence interval.

The 2x2 table is laid out as in R ``mcnemar.test``: ``n11`` both correct, ``n12`` A correct and
B wrong, ``n21`` A wrong and B correct, ``n22`` both wrong. Only the discordant cells n12 and n21
inform the test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis._validation import as_bool_1d, as_count_table, check_confidence, check_same_length
from analysis.metrics.classification import wilson_ci

__all__ = [
    "AccuracyDifference",
    "McNemarResult",
    "accuracy_difference",
    "accuracy_difference_table",
    "mcnemar",
    "mcnemar_table",
    "paired_table",
]


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test: chi-square statistic (df 1) or, for the exact test, the smaller
    discordant count with a two-sided binomial p-value."""

    statistic: float
    p: float
    method: str
    df: int | None
    n12: int
    n21: int
    n: int

    def summary(self) -> str:
        stat_name = "B (min discordant)" if self.df is None else "chi-square"
        lines = [
            self.method,
            "-" * len(self.method),
            f"  discordant pairs          n12 = {self.n12}, n21 = {self.n21} (n = {self.n})",
            f"  {stat_name:<25} {self.statistic:.6g}",
        ]
        if self.df is not None:
            lines.append(f"  df                        {self.df}")
        lines.append(f"  p-value                   {self.p:.6g}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "statistic": float(self.statistic),
            "p": float(self.p),
            "method": self.method,
            "df": self.df,
            "n12": self.n12,
            "n21": self.n21,
            "n": self.n,
        }


def mcnemar_table(
    n11: float, n12: float, n21: float, n22: float, *, correction: bool = True, exact: bool = False
) -> McNemarResult:
    """McNemar's test of a paired 2x2 table.

    Parameters
    ----------
    n11, n12, n21, n22 : non-negative counts (see the module docstring for the layout).
    correction : bool
        Continuity correction ``(|n12 - n21| - 1)^2 / (n12 + n21)`` (default, like R
        ``mcnemar.test``); ``False`` gives ``(n12 - n21)^2 / (n12 + n21)``.
    exact : bool
        Exact conditional test: two-sided binomial test of ``n12`` out of ``n12 + n21`` with
        probability 1/2 (``statistic`` = min(n12, n21), as statsmodels reports it);
        ``correction`` is then ignored.

    Returns
    -------
    McNemarResult
        With no discordant pairs the chi-square statistic is undefined; the result has
        statistic 0 and p = 1 (no evidence of a difference).

    References
    ----------
    McNemar Q (1947). Note on the sampling error of the difference between correlated
    proportions or percentages. Psychometrika 12:153-157. Edwards AL (1948). Note on the
    "correction for continuity" in testing the significance of the difference between correlated
    proportions. Psychometrika 13:185-187.

    Examples
    --------
    >>> r = mcnemar_table(101, 121, 59, 33)
    >>> round(r.statistic, 4), float(f"{r.p:.6e}")
    (20.6722, 5.450095e-06)
    """
    table = as_count_table([[n11, n12], [n21, n22]], "table")
    for name, v in zip(("n11", "n12", "n21", "n22"), table.ravel(), strict=True):
        if v != np.round(v):
            raise ValueError(f"{name}: expected a whole-number count, got {v:g}")
    b, c = int(table[0, 1]), int(table[1, 0])
    n = int(table.sum())
    if exact:
        stat = float(min(b, c))
        p = float(stats.binomtest(b, b + c, 0.5).pvalue) if b + c > 0 else 1.0
        return McNemarResult(stat, p, "McNemar's exact test (binomial)", None, b, c, n)
    method = "McNemar's chi-squared test" + (
        " with continuity correction" if correction else " without continuity correction"
    )
    if b + c == 0:
        return McNemarResult(0.0, 1.0, method, 1, b, c, n)
    # Like R mcnemar.test, the correction is applied only when the table is not symmetric
    # (b != c); statsmodels would give (0 - 1)^2 / (b + c) there.
    diff = abs(b - c) - (1 if correction and b != c else 0)
    stat = diff**2 / (b + c)
    return McNemarResult(float(stat), float(stats.chi2.sf(stat, 1)), method, 1, b, c, n)


def paired_table(correct_a, correct_b) -> tuple[int, int, int, int]:
    """(n11, n12, n21, n22) from per-case correctness of A and B on the same cases."""
    a = as_bool_1d(correct_a, "correct_a")
    b = as_bool_1d(correct_b, "correct_b")
    check_same_length(correct_a=a, correct_b=b)
    return (int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum()), int((~a & ~b).sum()))


def mcnemar(correct_a, correct_b, *, correction: bool = True, exact: bool = False) -> McNemarResult:
    """McNemar's test on paired correctness (booleans or 0/1 per case) of A and B.

    See :func:`mcnemar_table` for the options and references.

    Examples
    --------
    >>> mcnemar([1, 1, 0, 0, 1], [1, 0, 0, 1, 0], exact=True).p
    1.0
    """
    return mcnemar_table(*paired_table(correct_a, correct_b), correction=correction, exact=exact)


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccuracyDifference:
    """Difference in accuracy A - B on the same cases with a confidence interval."""

    difference: float
    ci: tuple[float, float]
    accuracy_a: float
    accuracy_b: float
    n: int
    confidence: float
    method: str

    def summary(self) -> str:
        pct = f"{100 * self.confidence:g}%"
        return "\n".join(
            [
                "Paired difference in accuracy (A - B)",
                f"  accuracy A                {self.accuracy_a:.4f}",
                f"  accuracy B                {self.accuracy_b:.4f}",
                f"  difference                {self.difference:.4f}",
                f"  {pct} CI                  {self.ci[0]:.4f} to {self.ci[1]:.4f} ({self.method})",
                f"  n = {self.n}",
            ]
        )

    def to_dict(self) -> dict:
        return {
            "difference": self.difference,
            "ci": list(self.ci),
            "accuracy_a": self.accuracy_a,
            "accuracy_b": self.accuracy_b,
            "n": self.n,
            "confidence": self.confidence,
            "method": self.method,
        }


def accuracy_difference_table(
    n11: float, n12: float, n21: float, n22: float, *, confidence: float = 0.95,
    method: str = "newcombe",
) -> AccuracyDifference:
    """Difference of paired proportions p_A - p_B = (n12 - n21) / n with a confidence interval.

    Parameters
    ----------
    n11, n12, n21, n22 : counts, layout as in :func:`mcnemar_table`.
    confidence : float
    method : {"newcombe", "wald"}
        ``"newcombe"``: Newcombe's (1998) method 10, the hybrid score interval from the Wilson
        intervals of both marginal proportions, with the correlation phi of the table
        (phi's numerator n11 n22 - n12 n21 shrunk by n/2 towards zero when positive, as in
        Newcombe's paper); stays inside [-1, 1] and behaves with few discordant pairs.
        ``"wald"``: Newcombe's method 1, ``d +/- z sqrt((n12 + n21) - (n12 - n21)^2 / n) / n``.

    References
    ----------
    Newcombe RG (1998). Improved confidence intervals for the difference between binomial
    proportions based on paired data. Stat Med 17:2635-2650 (methods 1 and 10).
    Altman DG, Machin D, Bryant TN, Gardner MJ (2000). Statistics with Confidence, 2nd ed.,
    BMJ Books, ch. 6 (worked example of method 10).
    """
    t = as_count_table([[n11, n12], [n21, n22]], "table")
    a, b, c, d = t.ravel()
    n = a + b + c + d
    conf = check_confidence(confidence)
    p1, p2 = (a + b) / n, (a + c) / n
    diff = p1 - p2
    if method == "wald":
        z = stats.norm.ppf(0.5 + conf / 2)
        se = np.sqrt(max((b + c) - (b - c) ** 2 / n, 0.0)) / n
        lo, hi = diff - z * se, diff + z * se
        label = "Wald (Newcombe 1998 method 1)"
    elif method == "newcombe":
        l1, u1 = wilson_ci(a + b, n, confidence=conf)
        l2, u2 = wilson_ci(a + c, n, confidence=conf)
        denom = (a + b) * (c + d) * (a + c) * (b + d)
        num = a * d - b * c
        if denom == 0:
            phi = 0.0
        else:
            adj = max(num - n / 2, 0.0) if num > 0 else num
            phi = adj / np.sqrt(denom)
        delta = np.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0))
        eps = np.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0))
        lo, hi = diff - delta, diff + eps
        label = "Newcombe hybrid score (1998 method 10)"
    else:
        raise ValueError(f"method: expected 'newcombe' or 'wald', got {method!r}")
    return AccuracyDifference(
        difference=float(diff), ci=(float(max(lo, -1.0)), float(min(hi, 1.0))),
        accuracy_a=float(p1), accuracy_b=float(p2), n=int(n), confidence=conf, method=label,
    )


def accuracy_difference(
    correct_a, correct_b, *, confidence: float = 0.95, method: str = "newcombe"
) -> AccuracyDifference:
    """Paired difference in accuracy A - B from per-case correctness; see
    :func:`accuracy_difference_table` (Newcombe 1998)."""
    return accuracy_difference_table(
        *paired_table(correct_a, correct_b), confidence=confidence, method=method
    )
