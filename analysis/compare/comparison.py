"""The human-vs-machine comparison of a long table: one call, one result object.

:func:`compare` computes everything DESIGN.md lists under "Statistics the comparison must
contain", for every reader, every seniority group, every model, and every site group
(all / internal / external cases), and returns a :class:`Comparison` that renders as text
(``summary()``) and serialises to JSON (``to_dict()``).

Layout: :mod:`analysis.compare.results` (the result objects),
:mod:`analysis.compare.raters` (aligned raters and the ROC questions asked of them),
:mod:`analysis.compare.paired` (model vs reader: DeLong, McNemar, bootstrap, Holm),
:mod:`analysis.compare.agreement` (inter- and intra-reader agreement); the text report is
:mod:`analysis.compare.text`.

Choices, stated once (and repeated in ``Comparison.methods``)
------------------------------------------------------------
* **Primary reads.** The human-vs-machine comparison uses, for each human reader, the reads of
  the primary condition (``"unaided"`` when present, else the first condition in sorted order;
  ``condition=`` overrides) in that reader's first session of it. A model is read once per case:
  its rows of the primary condition when it has some, else its rows of its only condition.
  Second sessions serve intra-reader agreement only; other conditions (e.g. ``"AI-aided"``) serve
  the unaided-vs-aided MRMC analysis only.
* **Scores** for every ROC come from :mod:`analysis.table.ratings` (the documented class +
  confidence rule for humans, the per-class probabilities for models).
* **Cases a reader did not read** are left out of that reader's metrics and of each paired
  comparison that involves the reader (those use the cases both read); they are counted in
  ``exclusions``. MRMC needs a complete design: a reader who did not read every case of the site
  group is left out of it, and listed.
* **Seniority groups** are pooled into a consensus reader per case: its class is the most
  frequent class among the group's members who read the case (ties broken by the higher mean
  probability of the tied classes), and its scores are the members' mean probability vector.
  The consensus is analysed exactly like a reader (so CIs treat cases, not reads, as the
  independent units). The plain mean of the members' accuracy, macro F1, quadratic kappa and
  endpoint AUCs is reported next to it.
* **Bootstrap**: patients are resampled with replacement (both hips of a patient together)
  within strata of their most severe true class, as
  :func:`analysis.resampling.bootstrap.patient_bootstrap_weights` draws them; the same resamples
  serve every statistic of a site group, so differences model - reader are paired; percentile
  intervals. Resamples in which a statistic
  is undefined (e.g. no positive case for an AUC) are left out of its interval and counted.
* **Multiplicity**: the p-values of the model-vs-reader tests (DeLong per endpoint, McNemar) are
  Holm-adjusted across the human readers, separately for each model, test, endpoint and site
  group (and across seniority groups for the group comparisons); both raw and adjusted p are
  reported.

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
Cohen J (1960, 1968); Fleiss JL (1971). McNemar Q (1947). Psychometrika 12:153-157.
Obuchowski NA, Rockette HE (1995); Hillis SL (2007). Statistics in Medicine 26:596-619.
Holm S (1979). Scand J Stat 6:65-70.
Field CA, Welsh AH (2007). Bootstrapping clustered data. J R Stat Soc B 69:369-390.
Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap, ch. 13 (percentile intervals).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.agreement.kappa import WEIGHTS, cohen_kappa_table
from analysis.compare.agreement import inter_reader, intra_reader
from analysis.compare.paired import paired_comparisons, with_holm
from analysis.compare.raters import Rater, ROCQuestion, consensus, rater_from_reads, roc_reason
from analysis.compare.results import (
    Comparison,
    RaterResult,
    ReadingTime,
    SiteGroupResult,
    _clean,
)
from analysis.compare.text import methods_text
from analysis.metrics.classification import accuracy, classification_report
from analysis.mrmc.obuchowski_rockette import mrmc
from analysis.mrmc.standalone import model_vs_readers
from analysis.resampling.weights import ResampleWeights
from analysis.table.longtable import LongTable, load_long_table
from analysis.table.ratings import (
    endpoint_to_dict,
    make_endpoints,
    probability_matrix,
    rule_rows,
)

__all__ = [
    "compare",
]

SITE_GROUPS = ("all", "internal", "external")


# =============================================================================================
# the comparison
# =============================================================================================
def compare(long_table, *, labels: Sequence[str] | None = None, endpoints=None,
            n_bootstrap: int = 2000, seed: int = 0, level: float = 0.95,
            condition: str | None = None, external_sites: Sequence[str] | None = None,
            ) -> Comparison:
    """The human-vs-machine comparison of a long table (see the module docstring).

    Parameters
    ----------
    long_table : LongTable, pandas.DataFrame, or path of a CSV
        One row per reader x case x condition x session (:mod:`analysis.table.longtable`).
    labels : sequence of str, optional
        Ordered classes, lowest first; default from the ``score_<class>`` columns.
    endpoints : sequence, optional
        Binary endpoints (``Endpoint``, ``{"name", "positive"}`` or ``(name, positive)``);
        default the cumulative ones of :func:`analysis.table.ratings.default_endpoints`.
    n_bootstrap : int
        Patient-clustered bootstrap resamples (0: no bootstrap intervals).
    seed : int
        Seed of the bootstrap; the same seed gives the same result.
    level : float
        Confidence level of every interval.
    condition : str, optional
        The primary reading condition (default ``"unaided"`` when present).
    external_sites : sequence of str, optional
        Sites whose cases are external in addition to the ``partition == "external"`` ones.

    Returns
    -------
    Comparison

    References
    ----------
    See the module docstring (DeLong 1988; Cohen 1960/1968; Fleiss 1971; McNemar 1947;
    Obuchowski & Rockette 1995; Hillis 2007; Holm 1979; Field & Welsh 2007).

    Examples
    --------
    >>> from analysis.table.simulate import simulate_long_table
    >>> df = simulate_long_table(labels=["lo", "mid", "hi"], n_cases=60, n_readers=3, seed=2)
    >>> result = compare(df, n_bootstrap=50)
    >>> [g.name for g in result.site_groups]
    ['all', 'internal', 'external']
    """
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: expected a confidence level between 0 and 1, got {level}")
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap: expected a whole number >= 0, got {n_bootstrap!r}")
    n_bootstrap = int(n_bootstrap)
    table = _as_table(long_table, labels)
    labels = table.labels
    eps = make_endpoints(endpoints, labels)
    reads = table.reads.assign(_row=np.arange(len(table.reads)))
    probs = probability_matrix(table)
    rule = rule_rows(table)
    primary, primary_rows, exclusions = _primary_reads(table, reads, condition)
    seniority = table.seniority_of()

    groups = []
    external = table.external_mask(external_sites=external_sites)
    n_external = int(reads.loc[external, "case"].nunique())
    for gi, name in enumerate(SITE_GROUPS):
        if name == "all":
            mask = np.ones(len(reads), dtype=bool)
        elif n_external in (0, table.n_cases):
            continue
        else:
            mask = external if name == "external" else ~external
        undecided = (table.indeterminate if name == "all" else
                     table.site_group(name, external_sites=external_sites).indeterminate)
        groups.append(_site_group(
            name, reads.loc[mask], primary_rows, probs=probs, rule=rule, labels=labels, eps=eps,
            seniority=seniority, primary=primary, level=level, n_bootstrap=n_bootstrap,
            seed=(seed, gi), exclusions=exclusions, indeterminate=undecided,
        ))

    summary_rows = reads.groupby("reader", sort=True).agg(
        kind=("reader_kind", "first"), seniority=("seniority", "first"),
        n_reads=("case", "size"),
        conditions=("condition", lambda s: sorted(set(s))),
        sessions=("session", lambda s: sorted(set(int(x) for x in s))),
    )
    data = {
        "n_rows": len(reads), "n_superseded_rows": table.n_superseded,
        "n_cases": table.n_cases, "n_patients": table.n_patients,
        "n_external_cases": n_external,
        "n_human_readers": len(table.human_readers), "n_models": len(table.model_readers),
        "n_rows_primary": int(primary_rows.size),
        "n_indeterminate_rows": len(table.indeterminate),
        "readers": [{"reader": r, **{k: _clean(v) for k, v in row.items()}}
                    for r, row in summary_rows.iterrows()],
        "site_groups": [g.name for g in groups],
    }
    if not groups[1:]:
        data["site_group_note"] = (
            "no internal/external split: every case is "
            + ("external" if n_external else "internal") + "; only 'all' is reported")
    return Comparison(
        labels=labels, endpoints=tuple(endpoint_to_dict(e, labels) for e in eps), level=level,
        n_bootstrap=n_bootstrap, seed=seed, primary_condition=primary,
        conditions=table.conditions, data=data, exclusions=tuple(exclusions),
        methods=methods_text(primary, level, n_bootstrap), site_groups=tuple(groups),
    )


def _as_table(long_table, labels) -> LongTable:
    if isinstance(long_table, LongTable):
        if labels is not None and tuple(str(x) for x in labels) != long_table.labels:
            raise ValueError(
                f"labels: {list(labels)} differ from the long table's {list(long_table.labels)}"
            )
        return long_table
    return load_long_table(long_table, labels=labels)


def _primary_reads(table: LongTable, reads: pd.DataFrame, condition: str | None):
    """Row positions of the primary reads, the primary condition, and exclusions."""
    humans = reads["reader_kind"] == "human"
    human_conditions = sorted(reads.loc[humans, "condition"].unique()) or list(table.conditions)
    if condition is not None:
        if condition not in table.conditions:
            raise ValueError(
                f"condition: {condition!r} is not in the long table; its conditions are "
                f"{list(table.conditions)}"
            )
        primary = condition
    else:
        primary = "unaided" if "unaided" in human_conditions else human_conditions[0]
    exclusions = []
    keep = []
    for (reader, kind), rows in reads.groupby(["reader", "reader_kind"], sort=True):
        conds = sorted(rows["condition"].unique())
        if kind == "model":
            if primary in conds:
                chosen = primary
            elif len(conds) == 1:
                chosen = conds[0]
            else:
                raise ValueError(
                    f"long table: model {reader!r} has reads in conditions {conds} but not in "
                    f"the primary condition {primary!r}; expected its reads in {primary!r}"
                )
        else:
            if primary not in conds:
                exclusions.append({"reader": reader, "site_group": "all", "what": "reader",
                                   "n_cases": int(rows["case"].nunique()),
                                   "reason": f"no reads in the primary condition {primary!r}"})
                continue
            chosen = primary
        in_cond = rows[rows["condition"] == chosen]
        first = in_cond["session"].min()
        keep.append(in_cond.loc[in_cond["session"] == first, "_row"].to_numpy())
    rows = np.sort(np.concatenate(keep)) if keep else np.array([], dtype=np.intp)
    return primary, rows, exclusions


def _indeterminate_masks(reads, indeterminate, case_index) -> dict:
    """(reader, condition) -> boolean mask over ``case_index`` of the cases that reader marked
    indeterminate in their first session of that condition (graded and indeterminate reads
    together decide which session is first)."""
    if indeterminate is None or indeterminate.empty:
        return {}
    both = pd.concat([reads[["reader", "condition", "session"]],
                      indeterminate[["reader", "condition", "session"]]])
    first = both.groupby(["reader", "condition"])["session"].min()
    masks = {}
    for (reader, cond), rows in indeterminate.groupby(["reader", "condition"], sort=True):
        rows = rows[rows["session"] == first[(reader, cond)]]
        pos = case_index.get_indexer(rows["case"])
        mask = np.zeros(case_index.size, dtype=bool)
        mask[pos[pos >= 0]] = True
        masks[(reader, cond)] = mask
    return masks


def _site_group(name, reads, primary_rows, *, probs, rule, labels, eps, seniority, primary, level,
                n_bootstrap, seed, exclusions, indeterminate=None) -> SiteGroupResult:
    """Every statistic of one site group (``reads``: all rows of its cases; ``indeterminate``:
    the indeterminate reads of its cases)."""
    k = len(labels)
    label_index = {lab: i for i, lab in enumerate(labels)}
    cases = reads.drop_duplicates("case").sort_values("case")
    case_index = pd.Index(cases["case"].to_numpy())
    truth = cases["truth"].map(label_index).to_numpy(np.intp)
    patients = pd.factorize(cases["patient"])[0]
    n = case_index.size
    notes = []

    in_primary = np.isin(reads["_row"].to_numpy(), primary_rows)
    prim = reads.loc[in_primary]

    def rater_of(rows, reader, kind, cond):
        at = rows["_row"].to_numpy()
        return rater_from_reads(rows, probs[at], case_index, labels, rule=rule[at],
                                name=reader, kind=kind, seniority=seniority.get(reader),
                                condition=cond)

    undecided = _indeterminate_masks(reads, indeterminate, case_index)
    models, humans = [], []
    for (reader, kind), rows in prim.groupby(["reader", "reader_kind"], sort=True):
        r = rater_of(rows, reader, kind, rows["condition"].iloc[0])
        r.indeterminate = undecided.get((reader, r.condition), np.zeros(n, dtype=bool)) \
            & ~r.read
        (models if kind == "model" else humans).append(r)
        if r.indeterminate.any():
            exclusions.append({"reader": reader, "site_group": name, "what": "cases",
                               "n_cases": int(r.indeterminate.sum()),
                               "reason": "indeterminate (the reader could not grade them): "
                                         "left out of this reader's metrics and paired "
                                         "comparisons, and out of MRMC for every reader"})
        missing = int(n - r.answered.sum())
        if missing:
            exclusions.append({"reader": reader, "site_group": name, "what": "cases",
                               "n_cases": missing,
                               "reason": "not read: left out of this reader's metrics and of "
                                         "the paired comparisons with this reader"})
    by_seniority: dict[str, list] = {}
    for r in humans:
        if r.seniority is None:
            notes.append(f"reader {r.name!r} has no seniority: in no seniority group")
        else:
            by_seniority.setdefault(r.seniority, []).append(r)
    groups = [consensus(f"group: {s}", members, k) for s, members in by_seniority.items()]
    raters = models + humans + groups

    # ---- ROC: one DeLong per binary question for all complete raters
    questions = [(f"{lab} vs rest", (lab,)) for lab in labels]
    questions += [(e.name, tuple(lab for lab in labels if lab in e.positive)) for e in eps]
    rocs = {}
    for qname, positive in questions:
        y = np.isin(truth, [label_index[p] for p in positive])
        rocs[qname] = ROCQuestion(qname, positive, y, raters=raters, labels=labels, level=level)

    def result(r: Rater) -> RaterResult:
        read = r.read
        t_lab = np.asarray(labels, dtype=object)[truth[read]]
        r_lab = np.asarray(labels, dtype=object)[r.codes[read]]
        report = classification_report(t_lab, r_lab, labels=labels)
        per_class = tuple(rocs[f"{lab} vs rest"].entry(r.name) for lab in labels)
        defined = [e["auc"] for e in per_class if e.get("auc") is not None]
        times = r.time_ms[read & np.isfinite(r.time_ms)] / 1000.0
        rt = None
        if times.size:
            q1, med, q3 = np.percentile(times, [25, 50, 75])
            rt = ReadingTime(n=int(times.size), median_s=float(med), q1_s=float(q1),
                             q3_s=float(q3))
        return RaterResult(
            reader=r.name, kind=r.kind, seniority=r.seniority, condition=r.condition,
            n_cases=int(read.sum()), n_patients=int(np.unique(patients[read]).size),
            n_not_read=int(n - r.answered.sum()),
            n_indeterminate=int(r.answered.sum() - read.sum()),
            accuracy=accuracy(t_lab, r_lab, labels=labels, confidence=level), report=report,
            kappa={w: cohen_kappa_table(report.confusion.matrix, weights=w, labels=labels,
                                        confidence=level) for w in WEIGHTS},
            auc_per_class=per_class, macro_auc=float(np.mean(defined)) if defined else None,
            auc_endpoints=tuple(rocs[e.name].entry(r.name) for e in eps),
            reading_time=rt, members=r.members,
        )

    model_results = tuple(result(r) for r in models)
    human_results = tuple(result(r) for r in humans)
    by_name = {r.reader: r for r in human_results}
    group_results = []
    for g in groups:
        res = result(g)
        members = [by_name[m] for m in g.members]
        means = {
            "accuracy": float(np.mean([m.accuracy.accuracy for m in members])),
            "macro_f1": float(np.mean([m.report.macro_f1 for m in members])),
            "kappa_quadratic": float(np.nanmean([m.kappa["quadratic"].kappa for m in members])),
        }
        for e in eps:
            values = [a["auc"] for m in members for a in m.auc_endpoints
                      if a["name"] == e.name and a.get("auc") is not None]
            means[f"auc {e.name}"] = float(np.mean(values)) if values else None
        group_results.append(RaterResult(**{**res.__dict__, "member_means": means}))

    # ---- paired comparisons model vs readers and vs groups
    boot = (ResampleWeights.patient_bootstrap(patients, truth, n_resamples=n_bootstrap,
                                              seed=seed) if n_bootstrap else None)
    # one pass for readers and groups: the model's resampled statistics are computed once
    paired = paired_comparisons(models, humans + groups, truth, patients=patients, rocs=rocs,
                                eps=eps, boot=boot, k=k, level=level, notes=notes)
    group_names = {g.name for g in groups}
    paired_h = [p for p in paired if p["reader"] not in group_names]
    paired_g = [p for p in paired if p["reader"] in group_names]
    holm_h, vs_readers = with_holm(paired_h, eps, "readers", name)
    holm_g, vs_groups = with_holm(paired_g, eps, "seniority groups", name)

    return SiteGroupResult(
        name=name, n_cases=n, n_patients=int(patients.max()) + 1,
        class_counts={lab: int((truth == i).sum()) for i, lab in enumerate(labels)},
        readers=human_results, models=model_results, seniority_groups=tuple(group_results),
        inter_reader=inter_reader(humans, by_seniority, labels, name, exclusions),
        intra_reader=intra_reader(reads, labels, level),
        model_vs_readers=vs_readers, model_vs_groups=vs_groups, holm=holm_h + holm_g,
        mrmc=_mrmc(primary, models, humans,
                   others=_other_conditions(reads, primary, rater_of, undecided), truth=truth,
                   labels=labels, eps=eps, level=level, group=name, exclusions=exclusions),
        notes=tuple(notes),
    )


def _other_conditions(reads: pd.DataFrame, primary: str, rater_of,
                      undecided: dict) -> dict[str, list]:
    """Human raters of every non-primary condition (first session of each reader)."""
    out: dict[str, list] = {}
    humans = reads[(reads["reader_kind"] == "human") & (reads["condition"] != primary)]
    for (cond, reader), rows in humans.groupby(["condition", "reader"], sort=True):
        first = rows[rows["session"] == rows["session"].min()]
        r = rater_of(first, reader, "human", cond)
        if (reader, cond) in undecided:
            r.indeterminate = undecided[(reader, cond)] & ~r.read
        out.setdefault(cond, []).append(r)
    return out


def _mrmc(primary, models, humans, *, others: dict, truth, labels, eps, level, group,
          exclusions) -> tuple:
    """Model vs random readers per endpoint; each other condition vs the primary one."""
    out = []
    # A reader who gave a result (graded or indeterminate) on every case is in; the cases
    # someone in the analysis marked indeterminate are left out for all (case-wise deletion).
    complete = [h for h in humans if h.answered.all()]
    left_out = [h.name for h in humans if not h.answered.all()]
    if left_out:
        exclusions.append({"reader": None, "site_group": group, "what": "MRMC readers",
                           "n_cases": None, "readers": left_out,
                           "reason": "did not read every case of the site group; MRMC needs "
                                     "a complete design"})
    label_index = {lab: i for i, lab in enumerate(labels)}
    n = truth.size
    for e in eps:
        mask = np.array([lab in e.positive for lab in labels])
        y_all = np.isin(truth, [label_index[p] for p in labels if p in e.positive])
        names = [h.name for h in complete]
        for m in models:
            keep = np.logical_and.reduce([h.read for h in complete] + [m.read])
            y = y_all[keep]
            entry = {"analysis": "model vs readers", "endpoint": e.name, "model": m.name,
                     "readers": names, "left_out": left_out, "n_cases": int(keep.sum()),
                     "n_cases_indeterminate": int(n - keep.sum()) if m.read.all() else 0}
            why = roc_reason(y) or (None if len(complete) >= 2 else
                                    f"{len(complete)} reader(s) read every case; at least 2 "
                                    "needed")
            if why is None and not m.read.all():
                why = "the model did not read every case"
            if why:
                out.append({**entry, "result": None, "reason": why})
                continue
            scores = np.stack([h.endpoint_scores(mask)[keep] for h in complete])
            res = model_vs_readers(y, m.endpoint_scores(mask)[keep], scores, level=level,
                                   readers=names)
            out.append({**entry, "result": res.to_dict(), "reason": None})
        for cond, raters in others.items():
            theirs = {r.name: r for r in raters if r.answered.all()}
            both = [h for h in complete if h.name in theirs]
            keep = np.logical_and.reduce(
                [np.ones(n, dtype=bool)] + [h.read for h in both]
                + [theirs[h.name].read for h in both])
            y = y_all[keep]
            entry = {"analysis": "conditions", "endpoint": e.name,
                     "treatments": [primary, cond], "readers": [h.name for h in both],
                     "left_out": sorted({h.name for h in humans} - {h.name for h in both}),
                     "n_cases": int(keep.sum()), "n_cases_indeterminate": int(n - keep.sum())}
            why = roc_reason(y) or (None if len(both) >= 2 else
                                    f"{len(both)} reader(s) read every case in both "
                                    "conditions; at least 2 needed")
            if why:
                out.append({**entry, "result": None, "reason": why})
                continue
            ratings = np.stack([
                np.stack([h.endpoint_scores(mask)[keep] for h in both]),
                np.stack([theirs[h.name].endpoint_scores(mask)[keep] for h in both]),
            ])
            res = mrmc(y, ratings, level=level, treatments=(primary, cond),
                       readers=[h.name for h in both])
            out.append({**entry, "result": res.to_dict(), "reason": None})
    return tuple(out)
