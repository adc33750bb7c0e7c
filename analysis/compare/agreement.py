"""Agreement sections of one site group of a comparison: inter-reader agreement (Fleiss' kappa
and mean pairwise Cohen kappa of the human readers, overall and per seniority group) and
intra-reader agreement (kappa between a reader's first two sessions). Internal to
:mod:`analysis.compare.comparison`.

References
----------
Cohen J (1960, 1968). Fleiss JL (1971). Psychol Bull 76:378-382. Light RJ (1971). Psychol Bull
76:365-377.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.agreement.kappa import WEIGHTS, intra_reader_agreement
from analysis.agreement.many_raters import fleiss_kappa, pairwise_kappa


def inter_reader(humans, by_seniority, labels, group, exclusions) -> dict:
    """Fleiss' kappa and mean pairwise (weighted) kappa of the human readers."""
    if len(humans) < 2:
        return {"note": f"{len(humans)} human reader(s): no inter-reader agreement"}
    out = _agreement(humans, labels, weighted=True)
    n_left = int((~np.logical_and.reduce([h.read for h in humans])).sum())
    if n_left:
        exclusions.append({"reader": None, "site_group": group, "what": "inter-reader cases",
                           "n_cases": n_left,
                           "reason": "not read by every human reader: left out of the "
                                     "inter-reader agreement"})
    out["seniority_groups"] = {
        s: _agreement(members, labels, weighted=False)
        for s, members in by_seniority.items() if len(members) >= 2
    }
    return out


def _agreement(raters, labels, *, weighted: bool) -> dict:
    common = np.logical_and.reduce([r.read for r in raters])
    names = [r.name for r in raters]
    out = {"readers": names, "n_cases": int(common.sum())}
    if common.sum() < 2:
        return {**out, "note": "fewer than 2 cases read by all of these readers"}
    mat = np.asarray(labels, dtype=object)[np.stack([r.codes[common] for r in raters], axis=1)]
    out["fleiss"] = fleiss_kappa(mat, labels=labels, names=names).to_dict()
    if weighted:
        out["pairwise"] = {w: pairwise_kappa(mat, labels=labels, weights=w, raters=names).to_dict()
                           for w in WEIGHTS}
    return out


def intra_reader(reads: pd.DataFrame, labels, level) -> tuple:
    """Kappa between the first two sessions of a human reader in the same condition."""
    humans = reads[reads["reader_kind"] == "human"]
    out = []
    for (reader, condition), rows in humans.groupby(["reader", "condition"], sort=True):
        sessions = sorted(rows["session"].unique())
        if len(sessions) < 2:
            continue
        s1, s2 = sessions[:2]
        both = rows[rows["session"] == s1].merge(rows[rows["session"] == s2], on="case",
                                                 suffixes=("_1", "_2"))
        entry = {"reader": reader, "condition": condition, "sessions": [int(s1), int(s2)],
                 "n_cases": len(both)}
        if len(both) < 2:
            out.append({**entry, "note": "fewer than 2 cases read in both sessions"})
            continue
        entry["kappa"] = {w: intra_reader_agreement(
            both["label_1"].to_numpy(object), both["label_2"].to_numpy(object), labels=labels,
            weights=w, confidence=level).to_dict() for w in WEIGHTS}
        out.append(entry)
    return tuple(out)
