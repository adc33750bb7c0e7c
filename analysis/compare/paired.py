"""Paired comparisons of a model with each reader (or seniority-group consensus) in one site
group of a comparison, on the cases both read: DeLong per endpoint, McNemar on correctness,
patient-clustered bootstrap differences (model - reader) with percentile intervals, and Holm's
adjustment across readers. Internal to :mod:`analysis.compare.comparison`.

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845. McNemar Q (1947).
Psychometrika 12:153-157. Holm S (1979). Scand J Stat 6:65-70. Efron B, Tibshirani RJ (1993).
An Introduction to the Bootstrap, ch. 13 (percentile intervals).
"""

from __future__ import annotations

import numpy as np

from analysis.compare.results import BootstrapDifference, ModelVsReader
from analysis.metrics.multiplicity import holm
from analysis.metrics.paired import mcnemar
from analysis.resampling.weights import ResampleWeights, statistics_from_confusion

BOOTSTRAP_STATISTICS = ("accuracy", "kappa", "kappa_linear", "kappa_quadratic", "macro_f1")


def paired_comparisons(models, others, truth, *, patients, rocs, eps, boot, k, level,
                       notes: list | None = None) -> list[dict]:
    """Raw (un-adjusted) paired comparisons of every model with every rater of ``others``.
    A pair with no case read by both is left out, with a line in ``notes`` saying so."""
    pairs = []
    series: dict[tuple, int] = {}
    rows: list[tuple] = []  # (rater, common mask)

    def series_of(rater, common) -> int:
        key = (rater.name, common.tobytes())
        if key not in series:
            series[key] = len(rows)
            rows.append((rater, common))
        return series[key]

    for m in models:
        for o in others:
            common = m.read & o.read
            if not common.any():
                if notes is not None:
                    notes.append(f"{m.name} vs {o.name}: no case read by both; not compared")
                continue
            correct_m = m.codes[common] == truth[common]
            correct_o = o.codes[common] == truth[common]
            pairs.append({
                "model": m.name, "reader": o.name, "n_cases": int(common.sum()),
                "n_patients": int(np.unique(patients[common]).size),
                "delong": [(e.name, *rocs[e.name].paired(m.name, o.name)) for e in eps],
                "mcnemar": mcnemar(correct_m, correct_o),
                "series": (series_of(m, common), series_of(o, common)),
            })
    if not pairs:
        return pairs

    codes = np.stack([np.where(c, r.codes, -1) for r, c in rows])
    reads = np.stack([c for _, c in rows])
    names = list(BOOTSTRAP_STATISTICS)

    def statistics(b: ResampleWeights) -> dict[str, np.ndarray]:
        out = statistics_from_confusion(b.confusion(truth, codes, k))  # each (B, S)
        for e in eps:
            roc = rocs[e.name]
            scores = np.stack([np.nan_to_num(roc.scores[r.name]) for r, _ in rows])
            out[f"auc {e.name}"] = b.auc(roc.y, scores, reads)
        return out

    point = statistics(ResampleWeights.original(patients))
    resampled = statistics(boot) if boot is not None else None
    for pair in pairs:
        i, j = pair.pop("series")
        diffs = []
        for stat in names + [f"auc {e.name}" for e in eps]:
            estimate = float(point[stat][0, i] - point[stat][0, j])
            if resampled is None:
                ci, n_valid, n_res = (float("nan"), float("nan")), 0, 0
            else:
                ci, n_valid = _percentile(resampled[stat][:, i] - resampled[stat][:, j], level)
                n_res = boot.n_resamples
            diffs.append(BootstrapDifference(statistic=stat, estimate=estimate, ci=ci,
                                             n_resamples=n_res, n_valid=n_valid))
        pair["bootstrap"] = tuple(diffs)
    return pairs


def with_holm(pairs: list[dict], eps, family: str, group: str):
    """Holm-adjust DeLong (per endpoint) and McNemar p-values across readers, per model."""
    summaries = []
    adjusted: dict[tuple, float] = {}
    for model in dict.fromkeys(p["model"] for p in pairs):
        mine = [p for p in pairs if p["model"] == model]
        tests = [("McNemar", None, [(p["reader"], p["mcnemar"].p) for p in mine])]
        for e_i, e in enumerate(eps):
            tests.append(("DeLong", e.name, [(p["reader"], p["delong"][e_i][1].pvalue)
                                             for p in mine if p["delong"][e_i][1] is not None]))
        for test, endpoint, values in tests:
            if not values:
                continue
            res = holm([v for _, v in values], names=[r for r, _ in values], family=family)
            summaries.append({"site_group": group, "model": model, "test": test,
                              "endpoint": endpoint, **res.to_dict()})
            for reader, p_adj in zip(res.names, res.p_adjusted, strict=True):
                adjusted[(model, reader, test, endpoint)] = float(p_adj)
    out = []
    for p in pairs:
        key = (p["model"], p["reader"])
        out.append(ModelVsReader(
            model=p["model"], reader=p["reader"], n_cases=p["n_cases"],
            n_patients=p["n_patients"],
            delong=tuple((name, res, adjusted.get((*key, "DeLong", name)), reason)
                         for name, res, reason in p["delong"]),
            mcnemar=p["mcnemar"], mcnemar_p_holm=adjusted.get((*key, "McNemar", None)),
            bootstrap=p["bootstrap"],
        ))
    return tuple(summaries), tuple(out)


def _percentile(values: np.ndarray, level: float) -> tuple[tuple[float, float], int]:
    ok = values[np.isfinite(values)]
    if ok.size == 0:
        return (float("nan"), float("nan")), 0
    lo, hi = np.quantile(ok, [(1 - level) / 2, (1 + level) / 2])
    return (float(lo), float(hi)), int(ok.size)
