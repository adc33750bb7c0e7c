"""Result objects of the human-vs-machine comparison (:func:`analysis.compare.comparison.compare`):
frozen
dataclasses that serialise to JSON (``to_dict()``); :meth:`Comparison.summary` renders the text
report of :mod:`analysis.compare.text`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.compare.text import render_text
from analysis.metrics.classification import AccuracyResult, ClassificationReport

__all__ = [
    "BootstrapDifference",
    "Comparison",
    "ModelVsReader",
    "RaterResult",
    "ReadingTime",
    "SiteGroupResult",
]


def _clean(value):
    """JSON-safe copy: numpy scalars and arrays to Python, NaN and inf to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is pd.NA:
        return None
    return value


@dataclass(frozen=True)
class ReadingTime:
    """Time on case of one reader (seconds): median and interquartile range."""

    n: int
    median_s: float
    q1_s: float
    q3_s: float

    def to_dict(self) -> dict:
        return _clean(self.__dict__)


@dataclass(frozen=True)
class BootstrapDifference:
    """Patient-clustered bootstrap of a difference (model - reader): estimate on the data and a
    percentile interval over the resamples in which the statistic is defined."""

    statistic: str
    estimate: float
    ci: tuple[float, float]
    n_resamples: int
    n_valid: int

    def to_dict(self) -> dict:
        return _clean(self.__dict__)


@dataclass(frozen=True)
class RaterResult:
    """Every per-reader statistic of one reader, model or seniority-group consensus.

    ``auc_per_class`` and ``auc_endpoints`` hold one entry per binary question:
    ``{"name", "positive", "auc", "se", "ci", "n_positive", "n_negative"}``, or with ``auc``
    None and a ``reason`` when the question cannot be answered on these cases.
    """

    reader: str
    kind: str  # human | model | group
    seniority: str | None
    condition: str | None
    n_cases: int
    n_patients: int
    n_not_read: int
    accuracy: AccuracyResult
    report: ClassificationReport
    kappa: dict  # weights -> KappaResult
    auc_per_class: tuple
    macro_auc: float | None
    auc_endpoints: tuple
    reading_time: ReadingTime | None
    members: tuple = ()
    member_means: dict = field(default_factory=dict)
    n_indeterminate: int = 0

    def to_dict(self) -> dict:
        return _clean({
            "reader": self.reader, "kind": self.kind, "seniority": self.seniority,
            "condition": self.condition, "n_cases": self.n_cases, "n_patients": self.n_patients,
            "n_not_read": self.n_not_read, "n_indeterminate": self.n_indeterminate,
            "accuracy": self.accuracy.to_dict(),
            "classification": self.report.to_dict(),
            "kappa": {w: k.to_dict() for w, k in self.kappa.items()},
            "auc_per_class": list(self.auc_per_class),
            "macro_auc": self.macro_auc,
            "auc_endpoints": list(self.auc_endpoints),
            "reading_time": None if self.reading_time is None else self.reading_time.to_dict(),
            "members": list(self.members),
            "member_means": self.member_means,
        })


@dataclass(frozen=True)
class ModelVsReader:
    """Paired comparison of one model with one reader (or seniority group) on the cases both
    read: DeLong per endpoint, McNemar on correctness, bootstrap differences (model - reader)."""

    model: str
    reader: str
    n_cases: int
    n_patients: int
    delong: tuple  # (endpoint name, DeLongTestResult | None, p_holm | None, reason | None)
    mcnemar: object  # McNemarResult
    mcnemar_p_holm: float | None
    bootstrap: tuple  # BootstrapDifference...

    def to_dict(self) -> dict:
        return _clean({
            "model": self.model, "reader": self.reader, "n_cases": self.n_cases,
            "n_patients": self.n_patients,
            "delong": [
                {"endpoint": name, **(res.to_dict() if res is not None else {}),
                 "p_holm": p_holm, "reason": reason}
                for name, res, p_holm, reason in self.delong
            ],
            "mcnemar": {**self.mcnemar.to_dict(), "p_holm": self.mcnemar_p_holm},
            "bootstrap": [b.to_dict() for b in self.bootstrap],
        })


@dataclass(frozen=True)
class SiteGroupResult:
    """All statistics of one site group (all, internal or external cases)."""

    name: str
    n_cases: int
    n_patients: int
    class_counts: dict
    readers: tuple  # RaterResult of human readers
    models: tuple  # RaterResult of models
    seniority_groups: tuple  # RaterResult of group consensus readers
    inter_reader: dict
    intra_reader: tuple  # dicts
    model_vs_readers: tuple  # ModelVsReader
    model_vs_groups: tuple  # ModelVsReader
    holm: tuple  # dicts: family, test, endpoint, HolmResult.to_dict()
    mrmc: tuple  # dicts
    notes: tuple

    def to_dict(self) -> dict:
        return _clean({
            "name": self.name, "n_cases": self.n_cases, "n_patients": self.n_patients,
            "class_counts": self.class_counts,
            "readers": [r.to_dict() for r in self.readers],
            "models": [r.to_dict() for r in self.models],
            "seniority_groups": [r.to_dict() for r in self.seniority_groups],
            "inter_reader": self.inter_reader,
            "intra_reader": list(self.intra_reader),
            "model_vs_readers": [c.to_dict() for c in self.model_vs_readers],
            "model_vs_groups": [c.to_dict() for c in self.model_vs_groups],
            "holm": list(self.holm),
            "mrmc": list(self.mrmc),
            "notes": list(self.notes),
        })


@dataclass(frozen=True)
class Comparison:
    """The whole human-vs-machine comparison (see :func:`compare`)."""

    labels: tuple
    endpoints: tuple  # dicts {name, positive}
    level: float
    n_bootstrap: int
    seed: int
    primary_condition: str
    conditions: tuple
    data: dict
    exclusions: tuple  # dicts
    methods: dict
    site_groups: tuple  # SiteGroupResult

    def group(self, name: str) -> SiteGroupResult:
        for g in self.site_groups:
            if g.name == name:
                return g
        raise KeyError(
            f"site group {name!r} not in this comparison; it has "
            f"{[g.name for g in self.site_groups]}"
        )

    def to_dict(self) -> dict:
        return _clean({
            "labels": list(self.labels), "endpoints": list(self.endpoints),
            "level": self.level, "n_bootstrap": self.n_bootstrap, "seed": self.seed,
            "primary_condition": self.primary_condition, "conditions": list(self.conditions),
            "data": self.data, "exclusions": list(self.exclusions), "methods": self.methods,
            "site_groups": [g.to_dict() for g in self.site_groups],
        })

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def summary(self) -> str:
        """The readable multi-section text report (:func:`analysis.compare.text.render_text`)."""
        return render_text(self.to_dict())

