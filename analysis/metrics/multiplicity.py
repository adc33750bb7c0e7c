"""Multiplicity correction across readers: Holm's step-down adjustment of p-values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from analysis._validation import as_1d

__all__ = ["HolmResult", "holm"]


@dataclass(frozen=True)
class HolmResult:
    """Holm-adjusted p-values, the rejections at ``alpha`` and a sentence for the report."""

    p_raw: np.ndarray = field(repr=False)
    p_adjusted: np.ndarray = field(repr=False)
    reject: np.ndarray = field(repr=False)
    alpha: float
    names: tuple
    method: str  # e.g. "Holm-adjusted across 12 readers"

    def summary(self) -> str:
        w = max(8, *(len(str(n)) + 1 for n in self.names))
        lines = [
            self.method + f" (family-wise alpha {self.alpha:g})",
            f"{'':<{w}}{'p':>12}{'p (Holm)':>12}{'reject':>8}",
        ]
        for name, p, pa, r in zip(self.names, self.p_raw, self.p_adjusted, self.reject,
                                  strict=True):
            lines.append(f"{str(name):<{w}}{p:>12.4g}{pa:>12.4g}{'yes' if r else 'no':>8}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "alpha": self.alpha,
            "names": [n.item() if isinstance(n, np.generic) else n for n in self.names],
            "p_raw": [float(v) for v in self.p_raw],
            "p_adjusted": [float(v) for v in self.p_adjusted],
            "reject": [bool(v) for v in self.reject],
        }


def holm(
    pvalues,
    *,
    alpha: float = 0.05,
    names: Sequence | None = None,
    family: str = "readers",
) -> HolmResult:
    """Holm's step-down adjustment of m p-values (strong control of the family-wise error).

    Sort p ascending: p_(1) <= ... <= p_(m); the adjusted value of p_(i) is
    ``min(1, max_{j <= i} (m - j + 1) p_(j))``; reject where adjusted p <= alpha. Equals
    R ``p.adjust(p, "holm")`` and statsmodels ``multipletests(p, method="holm")``.

    Parameters
    ----------
    pvalues : array_like, shape (m,)
        One p-value per comparison (e.g. model vs each reader), in [0, 1], no NaN.
    alpha : float
        Family-wise error rate for ``reject``.
    names : sequence, optional
        One name per p-value (e.g. reader ids), kept in input order.
    family : str
        What the m comparisons are, for the sentence: "Holm-adjusted across 12 readers".

    References
    ----------
    Holm S (1979). A simple sequentially rejective multiple test procedure. Scand J Stat
    6:65-70.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, 0.005]).p_adjusted.tolist()
    [0.03, 0.06, 0.06, 0.02]
    >>> holm([0.01, 0.2], family="readers").method
    'Holm-adjusted across 2 readers'
    """
    p = as_1d(pvalues, "pvalues", dtype=float)
    if ((p < 0) | (p > 1)).any():
        bad = int(np.flatnonzero((p < 0) | (p > 1))[0])
        raise ValueError(
            f"pvalues: expected values in [0, 1], got {float(p[bad])!r} at position {bad}"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a level strictly between 0 and 1, got {alpha!r}")
    m = p.size
    if names is None:
        names = tuple(range(m))
    else:
        names = tuple(names)
        if len(names) != m:
            raise ValueError(f"names: expected {m} names (one per p-value), got {len(names)}")
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    noun = family if m != 1 else family.rstrip("s")
    return HolmResult(
        p_raw=p, p_adjusted=adjusted, reject=adjusted <= alpha, alpha=float(alpha),
        names=names, method=f"Holm-adjusted across {m} {noun}",
    )
