"""The long table: one row per reader x case x condition x session, the interchange format.

The web app exports it, other platforms can produce it, and every analysis reads it (DESIGN.md,
"The long table is the interchange format"). This module loads it from CSV or a DataFrame,
validates it once, decides the label order, resolves re-submitted reads (the final version wins),
and offers the few selections the analyses need.

Columns (see :data:`analysis.table.dictionary.DATA_DICTIONARY` for types and meaning)::

    study, reader, reader_kind (human|model), seniority, condition, session, case, patient,
    hip, site, partition, truth, label, indeterminate, confidence, score_<class>..., time_ms,
    order_index, read_at

An *indeterminate* read (``indeterminate`` true) is a reader saying they cannot grade the case
(a non-diagnostic image): it has no label. Validation keeps those rows apart
(:attr:`LongTable.indeterminate`), so every analysis of :attr:`LongTable.reads` sees graded reads
only; :func:`analysis.compare.comparison.compare` counts them and states how they were handled.

Required: ``reader, reader_kind, condition, session, case, patient, truth, label``. The others may
be absent (a file from another platform) and are then filled with missing values.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({
...     "reader": ["r1", "r1", "m"], "reader_kind": ["human", "human", "model"],
...     "condition": "unaided", "session": 1, "case": ["c1", "c2", "c1"],
...     "patient": ["p1", "p1", "p1"], "truth": ["lo", "hi", "lo"], "label": ["lo", "lo", "lo"],
... })
>>> table = validate_long_table(df, labels=["lo", "hi"])
>>> table.labels, table.n_cases, table.readers
(('lo', 'hi'), 2, ('m', 'r1'))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

SCORE_PREFIX = "score_"
READER_KINDS = ("human", "model")
REQUIRED_COLUMNS = (
    "reader", "reader_kind", "condition", "session", "case", "patient", "truth", "label",
)
OPTIONAL_COLUMNS = (
    "study", "seniority", "hip", "site", "partition", "confidence", "time_ms", "order_index",
    "read_at", "version", "indeterminate",
)
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}
# Columns that describe the case, not the read: they must be the same on every row of a case.
CASE_COLUMNS = ("patient", "hip", "site", "partition", "truth")
EXTERNAL_PARTITION = "external"
KEY_COLUMNS = ("reader", "condition", "session", "case")

@dataclass(frozen=True)
class LongTable:
    """A validated long table.

    Attributes
    ----------
    reads : pandas.DataFrame
        One row per reader x case x condition x session (final versions only), with every column
        of :data:`DATA_DICTIONARY` present; ``session`` is an integer, ``reader``, ``case`` and
        ``patient`` are strings.
    labels : tuple of str
        The ordered classes, lowest first.
    score_columns : tuple of str
        ``score_<class>`` for each class, in label order (present in ``reads``; may be all-NaN).
    n_superseded : int
        Rows dropped because a later version of the same read exists.
    indeterminate : pandas.DataFrame
        The final reads that are indeterminate (no label), with the columns of ``reads``; they
        are not in ``reads``.
    """

    reads: pd.DataFrame = field(repr=False)
    labels: tuple[str, ...]
    score_columns: tuple[str, ...]
    n_superseded: int = 0
    indeterminate: pd.DataFrame | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.indeterminate is None:
            object.__setattr__(self, "indeterminate", self.reads.iloc[0:0].copy())

    # ---- descriptions -----------------------------------------------------------------------
    @property
    def readers(self) -> tuple[str, ...]:
        return tuple(sorted(self.reads["reader"].unique()))

    @property
    def human_readers(self) -> tuple[str, ...]:
        return tuple(sorted(self.reads.loc[self.reads["reader_kind"] == "human", "reader"]
                            .unique()))

    @property
    def model_readers(self) -> tuple[str, ...]:
        return tuple(sorted(self.reads.loc[self.reads["reader_kind"] == "model", "reader"]
                            .unique()))

    @property
    def conditions(self) -> tuple[str, ...]:
        return tuple(sorted(self.reads["condition"].unique()))

    @property
    def n_cases(self) -> int:
        return int(self.reads["case"].nunique())

    @property
    def n_patients(self) -> int:
        return int(self.reads["patient"].nunique())

    def cases(self) -> pd.DataFrame:
        """One row per case: ``case`` (index) with patient, hip, site, partition, truth."""
        return (self.reads.drop_duplicates("case").set_index("case")
                .loc[:, list(CASE_COLUMNS)].sort_index())

    def seniority_of(self) -> dict[str, str | None]:
        """reader -> seniority (None when missing)."""
        first = self.reads.drop_duplicates("reader").set_index("reader")["seniority"]
        return {r: (None if pd.isna(s) else str(s)) for r, s in first.items()}

    # ---- selections ---------------------------------------------------------------------------
    def _with(self, reads: pd.DataFrame, indeterminate: pd.DataFrame) -> LongTable:
        return LongTable(reads=reads, labels=self.labels, score_columns=self.score_columns,
                         n_superseded=self.n_superseded, indeterminate=indeterminate)

    def all_rows(self) -> pd.DataFrame:
        """Graded and indeterminate reads together, in the table's row order."""
        if self.indeterminate.empty:
            return self.reads
        both = pd.concat([self.reads, self.indeterminate], ignore_index=True)
        return both.sort_values(["reader", "condition", "session", "case"],
                                kind="stable").reset_index(drop=True)

    def select(self, *, reader: str | Iterable[str] | None = None,
               reader_kind: str | None = None, condition: str | Iterable[str] | None = None,
               session: int | Iterable[int] | None = None,
               cases: Iterable[str] | None = None) -> LongTable:
        """Rows matching every given filter (a value or a collection of values)."""
        def keep(frame: pd.DataFrame) -> pd.DataFrame:
            mask = np.ones(len(frame), dtype=bool)
            for column, value in (("reader", reader), ("reader_kind", reader_kind),
                                  ("condition", condition), ("session", session),
                                  ("case", cases)):
                if value is None:
                    continue
                values = [value] if isinstance(value, str | int | np.integer) else list(value)
                mask &= frame[column].isin(values).to_numpy()
            return frame.loc[mask]

        return self._with(keep(self.reads), keep(self.indeterminate))

    def site_group(self, group: str, *, external_sites: Iterable[str] | None = None) -> LongTable:
        """Cases of a site group: ``"all"``, ``"internal"`` or ``"external"``.

        A case is external when its ``partition`` is ``"external"`` or, if ``external_sites`` is
        given, when its ``site`` is in that list; every other case is internal.
        """
        if group == "all":
            return self
        if group not in ("internal", "external"):
            raise ValueError(
                f"group: expected 'all', 'internal' or 'external', got {group!r}"
            )
        def keep(frame: pd.DataFrame) -> pd.DataFrame:
            external = _external(frame, external_sites)
            return frame.loc[external if group == "external" else ~external]

        return self._with(keep(self.reads), keep(self.indeterminate))

    def external_mask(self, *, external_sites: Iterable[str] | None = None) -> np.ndarray:
        """Boolean per row: True where the case belongs to the external site group."""
        return _external(self.reads, external_sites)

    def pivot(self, values: str = "label", *, condition: str | None = None,
              session: int | None = None) -> pd.DataFrame:
        """Cases x readers table of ``values`` (rows: case ids sorted; columns: readers).

        A reader who did not read a case leaves a missing value. ``condition`` and ``session``
        must be given whenever the table holds several of them, so that each cell is one read.
        """
        reads = self.select(condition=condition, session=session).reads
        dup = reads.duplicated(["reader", "case"])
        if dup.any():
            row = reads.loc[dup].iloc[0]
            raise ValueError(
                f"pivot: reader {row['reader']!r} read case {row['case']!r} more than once "
                f"(conditions {sorted(reads['condition'].unique())}, sessions "
                f"{sorted(reads['session'].unique())}); pass condition= and session="
            )
        return reads.pivot(index="case", columns="reader", values=values).sort_index()

    def label_codes(self, column: str = "label") -> np.ndarray:
        """Integer position (0 = lowest class) of ``column`` (``label`` or ``truth``) per row."""
        index = {lab: i for i, lab in enumerate(self.labels)}
        return self.reads[column].map(index).to_numpy(dtype=np.intp)


# ---- loading and validation ---------------------------------------------------------------------
def load_long_table(source, *, labels: Sequence[str] | None = None) -> LongTable:
    """Read a long table from a CSV file (path or file object) or a DataFrame, and validate it.

    Identifiers (``reader``, ``case``, ``patient``, ``hip``, ``site``, labels...) are read as
    text, so that ``"007"`` stays ``"007"``.

    Parameters
    ----------
    source : str, os.PathLike, file object or pandas.DataFrame
    labels : sequence of str, optional
        The ordered classes, lowest first. Default: the order of the ``score_<class>`` columns.
    """
    if isinstance(source, pd.DataFrame):
        return validate_long_table(source, labels=labels)
    text_columns = {c: "string" for c in ("study", "reader", "reader_kind", "seniority",
                                          "condition", "case", "patient", "hip", "site",
                                          "partition", "truth", "label", "read_at")}
    if isinstance(source, str | Path) and not Path(source).exists():
        raise FileNotFoundError(f"long table: no file at {str(source)!r}")
    try:
        df = pd.read_csv(source, dtype=text_columns, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise ValueError("long table: the file is empty (expected a CSV with a header)") from None
    return validate_long_table(df, labels=labels)


def infer_labels(columns: Iterable[str]) -> tuple[str, ...] | None:
    """The class order given by the ``score_<class>`` columns, or None when there are none."""
    found = tuple(c[len(SCORE_PREFIX):] for c in columns if str(c).startswith(SCORE_PREFIX))
    return found or None


def _external(frame: pd.DataFrame, external_sites: Iterable[str] | None) -> np.ndarray:
    mask = (frame["partition"].astype("string") == EXTERNAL_PARTITION).fillna(False)
    mask = mask.to_numpy(dtype=bool)
    if external_sites is not None:
        sites = {str(s) for s in external_sites}
        mask |= frame["site"].astype("string").isin(sites).fillna(False).to_numpy(bool)
    return mask


def _as_bool(values: pd.Series, column: str) -> pd.Series:
    """true/false, 1/0, yes/no (any case), or empty for false."""
    if values.dtype == bool:
        return values
    text = values.astype("string").str.strip().str.lower().fillna("")
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy(bool))[0])
        raise ValueError(
            f"long table: column {column!r} has a value {values.iloc[row]!r} at data row "
            f"{row + 1}; expected true or false"
        )
    return text.isin(_TRUE).astype(bool)


def validate_long_table(df: pd.DataFrame, *, labels: Sequence[str] | None = None) -> LongTable:
    """Check a long table and return it as a :class:`LongTable`.

    Refuses, naming the column: a missing required column; a missing value in a required column;
    a ``reader_kind`` other than human/model; a truth or label outside ``labels``; ``score_``
    columns that do not match ``labels``; negative or non-numeric scores; a confidence outside
    0-100; a case whose patient, site, partition or truth differs between rows; a reader whose
    kind or seniority differs between rows; and the same reader x case x condition x session
    twice unless ``read_at`` (or ``version``) says which row is final (that one is kept).

    The label order is ``labels`` when given, else the order of the ``score_<class>`` columns;
    with neither the table is refused with a message asking for ``--labels``.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"long table: expected a pandas DataFrame, got {type(df).__name__}")
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"long table: missing required column(s) {missing}; the columns are "
            f"{list(df.columns)}; expected at least {list(REQUIRED_COLUMNS)}"
        )
    if len(df) == 0:
        raise ValueError("long table: no rows")

    # ---- label order
    from_scores = infer_labels(df.columns)
    if labels is not None:
        labels = tuple(str(x) for x in labels)
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(
                f"labels: expected at least two distinct classes, got {list(labels)}"
            )
        if from_scores is not None and set(from_scores) != set(labels):
            raise ValueError(
                f"long table: score columns {[SCORE_PREFIX + c for c in from_scores]} do not "
                f"match labels {list(labels)}; expected one score_<class> column per class"
            )
    elif from_scores is not None:
        labels = from_scores
        if len(labels) < 2:
            raise ValueError(
                f"long table: only one score column {[SCORE_PREFIX + labels[0]]}; "
                "expected one per class, or pass the class order with --labels"
            )
    else:
        seen = sorted(set(df["truth"].dropna().astype(str)) | set(df["label"].dropna()
                                                                    .astype(str)))
        raise ValueError(
            "long table: cannot tell the order of the classes (no score_<class> columns); "
            f"pass it with --labels (labels=), lowest first, e.g. --labels {','.join(seen)}"
        )
    score_columns = tuple(SCORE_PREFIX + c for c in labels)

    # ---- missing values in required columns (an indeterminate read has no label)
    df["indeterminate"] = (_as_bool(df["indeterminate"], "indeterminate")
                           if "indeterminate" in df.columns else False)
    indeterminate = df["indeterminate"].to_numpy(dtype=bool)
    for column in REQUIRED_COLUMNS:
        values = df[column]
        if values.dtype == object or str(values.dtype) == "string":
            empty = values.isna() | (values.astype("string").str.strip() == "")
        else:
            empty = values.isna()
        if column == "label":
            labelled = indeterminate & ~empty.to_numpy(dtype=bool)
            if labelled.any():
                row = int(np.flatnonzero(labelled)[0])
                raise ValueError(
                    f"long table: data row {row + 1} is indeterminate and has a label "
                    f"{values.iloc[row]!r}; an indeterminate read has none"
                )
            empty = empty & ~indeterminate
        if empty.any():
            rows = np.flatnonzero(empty.to_numpy(dtype=bool))
            raise ValueError(
                f"long table: column {column!r} has {rows.size} missing value(s) "
                f"(first at data row {int(rows[0]) + 1}); it is required on every row"
            )

    for column in OPTIONAL_COLUMNS:
        if column not in df.columns:
            df[column] = pd.NA
    for column in score_columns:
        if column not in df.columns:
            df[column] = np.nan

    for column in ("study", "reader", "reader_kind", "seniority", "condition", "case",
                   "patient", "hip", "site", "partition", "truth", "label"):
        df[column] = df[column].astype("string").str.strip()
    df["reader_kind"] = df["reader_kind"].str.lower()
    df.loc[df["indeterminate"].to_numpy(dtype=bool), "label"] = pd.NA

    bad_kind = sorted(set(df["reader_kind"].unique()) - set(READER_KINDS))
    if bad_kind:
        raise ValueError(
            f"long table: column 'reader_kind' has value(s) {bad_kind}; expected 'human' or "
            "'model'"
        )
    for column in ("truth", "label"):
        unknown = sorted(set(df[column].dropna().unique()) - set(labels))
        if unknown:
            raise ValueError(
                f"long table: column {column!r} has unknown label(s) {unknown[:5]}; expected one "
                f"of {list(labels)} (pass the scheme with --labels if it differs)"
            )

    df["session"] = _as_integer(df["session"], "session")
    for column in ("time_ms", "order_index", "confidence", "version", *score_columns):
        df[column] = _as_number(df[column], column)
    conf = df["confidence"].to_numpy(dtype=float)
    bad = np.flatnonzero((conf < 0) | (conf > 100))
    if bad.size:
        raise ValueError(
            f"long table: column 'confidence' has {bad.size} value(s) outside 0-100 (first "
            f"{conf[bad[0]]} at data row {int(bad[0]) + 1}); expected a percentage"
        )
    scores = df[list(score_columns)].to_numpy(dtype=float)
    neg = np.flatnonzero((scores < 0).any(axis=1))
    if neg.size:
        raise ValueError(
            f"long table: score columns have negative values (first at data row "
            f"{int(neg[0]) + 1}); expected probabilities or non-negative scores"
        )
    partial = np.isnan(scores).any(axis=1) & ~np.isnan(scores).all(axis=1)
    if partial.any():
        row = int(np.flatnonzero(partial)[0])
        raise ValueError(
            f"long table: data row {row + 1} has scores for some classes but not others; "
            f"expected all of {list(score_columns)} or none"
        )
    zero = ~np.isnan(scores).any(axis=1) & (scores.sum(axis=1) <= 0)
    if zero.any():
        raise ValueError(
            f"long table: data row {int(np.flatnonzero(zero)[0]) + 1} has scores that sum to 0; "
            "expected a positive total"
        )
    read_at = pd.to_datetime(df["read_at"], errors="coerce", utc=True, format="ISO8601")
    unparsed = df["read_at"].notna() & read_at.isna()
    if unparsed.any():
        row = int(np.flatnonzero(unparsed.to_numpy(bool))[0])
        raise ValueError(
            f"long table: column 'read_at' has a value that is not a timestamp "
            f"({df['read_at'].iloc[row]!r} at data row {row + 1}); expected ISO 8601"
        )
    df["read_at"] = read_at

    df, n_superseded = _final_versions(df)
    _check_constant(df, "case", CASE_COLUMNS)
    _check_constant(df, "reader", ("reader_kind", "seniority"))
    df = df.sort_values(["reader", "condition", "session", "case"], kind="stable")
    df = df.reset_index(drop=True)
    ordered = ["study", "reader", "reader_kind", "seniority", "condition", "session", "case",
               "patient", "hip", "site", "partition", "truth", "label", "indeterminate",
               "confidence", *score_columns, "time_ms", "order_index", "read_at", "version"]
    extra = [c for c in df.columns if c not in ordered]
    df = df[ordered + extra]
    apart = df["indeterminate"].to_numpy(dtype=bool)
    if apart.all():
        raise ValueError("long table: every read is indeterminate; nothing to analyse")
    return LongTable(reads=df.loc[~apart].reset_index(drop=True), labels=labels,
                     score_columns=score_columns, n_superseded=n_superseded,
                     indeterminate=df.loc[apart].reset_index(drop=True))


def _as_number(values: pd.Series, column: str) -> pd.Series:
    converted = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & converted.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy(bool))[0])
        raise ValueError(
            f"long table: column {column!r} has a non-numeric value {values.iloc[row]!r} at "
            f"data row {row + 1}; expected a number"
        )
    return converted.astype(float)


def _as_integer(values: pd.Series, column: str) -> pd.Series:
    converted = _as_number(values, column)
    arr = converted.to_numpy(dtype=float)
    frac = np.flatnonzero(arr != np.round(arr))
    if frac.size:
        raise ValueError(
            f"long table: column {column!r} has a non-integer value {arr[frac[0]]} at data row "
            f"{int(frac[0]) + 1}; expected an integer"
        )
    return converted.astype(np.int64)


def _final_versions(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep the final version of each reader x case x condition x session read."""
    key = list(KEY_COLUMNS)
    dup = df.duplicated(key, keep=False)
    if not dup.any():
        return df, 0
    groups = df.loc[dup]
    have_order = groups["read_at"].notna() | groups["version"].notna()
    first = groups.iloc[0]
    where = (f"reader {first['reader']!r}, case {first['case']!r}, condition "
             f"{first['condition']!r}, session {first['session']}")
    if not have_order.all():
        raise ValueError(
            f"long table: {int(dup.sum())} rows repeat a reader x case x condition x session "
            f"(e.g. {where}) and columns 'read_at'/'version' do not say which is final; "
            "expected one row per read, or a read_at (or version) on every repeated row"
        )
    ranked = groups.assign(_t=groups["read_at"].fillna(pd.Timestamp.min.tz_localize("UTC")),
                           _v=groups["version"].fillna(-np.inf))
    ranked = ranked.sort_values(key + ["_t", "_v"], kind="stable")
    last = ranked.drop_duplicates(key, keep="last")
    ties = ranked.duplicated(key + ["_t", "_v"], keep=False)
    if ties.any():
        row = ranked.loc[ties].iloc[0]
        raise ValueError(
            f"long table: reader {row['reader']!r}, case {row['case']!r} has two versions "
            "with the same read_at and version; expected distinct values to decide the final one"
        )
    kept = pd.concat([df.loc[~dup], last.drop(columns=["_t", "_v"])])
    return kept, int(len(df) - len(kept))


def _check_constant(df: pd.DataFrame, by: str, columns: Sequence[str]) -> None:
    for column in columns:
        values = df[[by, column]].astype({column: "string"}).fillna({column: "<missing>"})
        counts = values.drop_duplicates().groupby(by)[column].count()
        if (counts > 1).any():
            key = counts.index[counts.to_numpy() > 1][0]
            seen = sorted(values.loc[values[by] == key, column].unique())
            raise ValueError(
                f"long table: column {column!r} differs between rows of {by} {key!r} "
                f"(values {seen}); expected one value per {by}"
            )
