"""Files a study exports: the long table with its data dictionary, per-endpoint inputs of the
reference MRMC software (iMRMC; MRMCaov / RJafroc), an XLSX workbook and the results as JSON.

Every rating written here comes from :mod:`analysis.table.ratings` (the one rule that turns a read
into scores); nothing is recomputed another way, so an export analysed by the reference
software answers the question :func:`analysis.compare.comparison.compare` answered.

Ratings per endpoint
--------------------
One row per reader x condition x case, from the reader's **first session** of that condition
(later sessions measure intra-reader agreement and are not MRMC ratings; this is the choice
:func:`analysis.compare.comparison.compare` makes). The treatment (modality) is the reading
condition. A model version is a reader like any other, under the condition its rows carry (the
long table gives models ``unaided``): with the humans' unaided reads this is the
single-treatment layout of RJafroc's CAD-vs-radiologists analysis (Chakraborty 2017, ch. 22: the
CAD as one reader among the radiologists). Models are written first, as that layout expects. An
Obuchowski-Rockette analysis of *conditions* (unaided vs AI-aided) needs every reader in every
condition: pass ``include_models=False`` (or drop the model's rows) for it.

iMRMC input file (``*.imrmc``)
------------------------------
The layout the iMRMC Java application writes and reads (DIDSR/iMRMC, simulation writer;
read back by RJafroc's ``ReadImrmc``, R/DfReadIowaFormats.R)::

    <free description lines>
    NR: <number of readers>
    N0: <number of signal-absent (truth 0) cases>
    N1: <number of signal-present (truth 1) cases>
    NM: <number of modalities>
    <blank>
    BEGIN DATA:
    -1,<case>,0,<truth 0|1>          one truth row per case, reader -1, modality 0
    <reader>,<case>,<modality>,<score>   one row per reader x case x modality

Case identifiers must be integers (RJafroc: "Case IDs must be integers"): when the study's
case ids are not all integers, cases are numbered 1..K in sorted order and the header lists
``case <n> = <id>``. Readers and modalities are the long table's names; none may contain a
comma, and no modality may be ``0`` (reserved for truth rows).

MRMCaov / RJafroc long CSV
--------------------------
Columns ``reader, treatment, case, truth, rating`` (truth 1 = endpoint positive): the long
format of MRMCaov's ``mrmc(empirical_auc(truth, rating), treatment, reader, case, data)``
(Smith & Hillis 2020) and of ``python -m analysis mrmc``.

References
----------
Gallas BD (2006). One-shot estimate of MRMC variance: AUC. Acad Radiol 13:353-362 (iMRMC).
Smith BJ, Hillis SL (2020). Proc. SPIE 11316:113160K (MRMCaov).
Chakraborty DP (2017). Observer Performance Methods for Diagnostic Imaging. CRC Press (RJafroc).

Examples
--------
>>> from analysis.table.simulate import simulate_long_table
>>> from analysis.table.longtable import validate_long_table
>>> table = validate_long_table(simulate_long_table(labels=["lo", "hi"], n_cases=8,
...                                                 n_readers=2, seed=1))
>>> frame = mrmc_frame(table, default_endpoints(table.labels)[0])
>>> list(frame.columns), len(frame)
(['reader', 'treatment', 'case', 'truth', 'rating'], 24)
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis.roc.multiclass import Endpoint
from analysis.table.dictionary import DATA_DICTIONARY, write_data_dictionary
from analysis.table.longtable import (
    SCORE_PREFIX,
    LongTable,
    validate_long_table,
)
from analysis.table.ratings import (
    default_endpoints,
    endpoint_mask,
    make_endpoints,
    read_endpoint_scores,
)

__all__ = [
    "IMRMC_TRUTH_MODALITY",
    "endpoint_ratings",
    "endpoint_slug",
    "imrmc_text",
    "long_table_frame",
    "mrmc_frame",
    "summary_frame",
    "write_bundle",
    "write_imrmc",
    "write_long_table",
    "write_mrmc_csv",
    "write_results_json",
    "write_xlsx",
]

IMRMC_TRUTH_MODALITY = "0"
MRMC_COLUMNS = ("reader", "treatment", "case", "truth", "rating")


def _as_table(table, labels: Sequence[str] | None = None) -> LongTable:
    if isinstance(table, LongTable):
        return table
    if isinstance(table, pd.DataFrame):
        return validate_long_table(table, labels=labels)
    raise TypeError(
        f"table: expected a LongTable or a pandas DataFrame, got {type(table).__name__}"
    )


def endpoint_slug(endpoint: Endpoint) -> str:
    """A file-name-safe form of an endpoint name: ``">= C1"`` -> ``"ge_C1"``."""
    name = endpoint.name.replace(">=", "ge").replace("<=", "le").replace(">", "gt")
    name = name.replace("<", "lt")
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
    return slug or "endpoint"


# ---- the long table -------------------------------------------------------------------------
def long_table_frame(table) -> pd.DataFrame:
    """The reads of a long table in the data dictionary's column order (final versions only),
    indeterminate reads included (the per-endpoint files hold graded reads only)."""
    table = _as_table(table)
    columns = []
    for column in DATA_DICTIONARY:
        columns.extend(table.score_columns if column == SCORE_PREFIX + "<class>" else [column])
    reads = table.all_rows().loc[:, columns].sort_values(
        ["reader_kind", "reader", "condition", "session", "case"], kind="stable")
    return reads.reset_index(drop=True)


def write_long_table(table, directory, *, stem: str = "long_table") -> list[Path]:
    """Write ``<stem>.csv`` (the reads) and ``<stem>_dictionary.csv`` (column, type, required,
    description: :func:`analysis.table.dictionary.write_data_dictionary`); returns both paths."""
    table = _as_table(table)
    directory = Path(directory)
    csv_path = directory / f"{stem}.csv"
    long_table_frame(table).to_csv(csv_path, index=False)
    dictionary = directory / f"{stem}_dictionary.csv"
    write_data_dictionary(dictionary, labels=table.labels)
    return [csv_path, dictionary]


# ---- ratings per endpoint -------------------------------------------------------------------
def endpoint_ratings(table, endpoint: Endpoint, *, include_models: bool = True) -> pd.DataFrame:
    """Ratings of one endpoint, one row per reader x condition x case (first session).

    Returns
    -------
    pandas.DataFrame
        Columns ``reader, reader_kind, treatment, case, truth, rating``: ``truth`` 1 when the
        case's class is a positive class of ``endpoint``, ``rating`` its score by
        :func:`analysis.table.ratings.read_endpoint_scores` (exact for class + confidence
        reads, so ties stay ties in the reference software too). Models first, then human
        readers; each sorted by reader, treatment and case.
    """
    table = _as_table(table)
    reads = table.reads
    first = reads.groupby(["reader", "condition"])["session"].transform("min")
    keep = (reads["session"] == first).to_numpy()
    if not include_models:
        keep &= (reads["reader_kind"] == "human").to_numpy()
    if not keep.any():
        raise ValueError("table: no reads left to export (include_models=False and no human "
                         "reads); expected at least one reader")
    rows = reads.loc[keep]
    positive = [lab for lab in table.labels if lab in endpoint.positive]
    out = pd.DataFrame({
        "reader": rows["reader"].astype(str).to_numpy(),
        "reader_kind": rows["reader_kind"].astype(str).to_numpy(),
        "treatment": rows["condition"].astype(str).to_numpy(),
        "case": rows["case"].astype(str).to_numpy(),
        "truth": rows["truth"].isin(positive).astype(int).to_numpy(),
        "rating": read_endpoint_scores(table, endpoint_mask(endpoint, table.labels), rows),
    })
    out["_model_first"] = (out["reader_kind"] != "model").astype(int)
    out = out.sort_values(["_model_first", "reader", "treatment", "case"], kind="stable")
    return out.drop(columns="_model_first").reset_index(drop=True)


def mrmc_frame(table, endpoint: Endpoint, *, include_models: bool = True) -> pd.DataFrame:
    """The MRMCaov / RJafroc long table of one endpoint: ``reader, treatment, case, truth,
    rating`` (see the module docstring)."""
    return endpoint_ratings(table, endpoint, include_models=include_models).loc[
        :, list(MRMC_COLUMNS)]


def write_mrmc_csv(table, endpoint: Endpoint, path, *, include_models: bool = True) -> Path:
    """Write :func:`mrmc_frame` as CSV (ratings at full precision); returns the path."""
    path = Path(path)
    mrmc_frame(table, endpoint, include_models=include_models).to_csv(path, index=False)
    return path


def _check_no_comma(values, what: str) -> None:
    bad = sorted({v for v in values if "," in v})
    if bad:
        raise ValueError(
            f"{what}: {bad[0]!r} contains a comma; the iMRMC format separates fields by commas, "
            f"expected names without one"
        )


def imrmc_text(table, endpoint: Endpoint, *, include_models: bool = True,
               description: str | None = None) -> str:
    """The iMRMC input file of one endpoint as text (layout in the module docstring)."""
    ratings = endpoint_ratings(table, endpoint, include_models=include_models)
    _check_no_comma(ratings["reader"].unique(), "reader")
    _check_no_comma(ratings["treatment"].unique(), "condition")
    if IMRMC_TRUTH_MODALITY in set(ratings["treatment"]):
        raise ValueError(
            f"condition: {IMRMC_TRUTH_MODALITY!r} is the modality iMRMC reserves for truth rows; "
            "expected another condition name"
        )
    cases = ratings.drop_duplicates("case").set_index("case")["truth"]
    ids = list(cases.index)
    # integers kept as they are, unless two ids are one number ("7" and "007")
    numeric = (all(re.fullmatch(r"\d+", c) for c in ids)
               and len({int(c) for c in ids}) == len(ids))
    order = sorted(ids, key=int) if numeric else sorted(ids)
    number = {c: (c if numeric else str(i)) for i, c in enumerate(order, start=1)}
    lines = [description or f"ReaderBench export, endpoint {endpoint.name!r} (truth 1 = "
             f"{', '.join(sorted(endpoint.positive))})"]
    if not numeric:
        lines += [f"case {number[c]} = {c}" for c in order]
    lines += [
        "",
        f"NR: {ratings['reader'].nunique()}",
        f"N0: {int((cases == 0).sum())}",
        f"N1: {int((cases == 1).sum())}",
        f"NM: {ratings['treatment'].nunique()}",
        "",
        "BEGIN DATA:",
    ]
    lines += [f"-1,{number[c]},{IMRMC_TRUTH_MODALITY},{int(cases[c])}" for c in order]
    lines += [f"{r.reader},{number[r.case]},{r.treatment},{float(r.rating)!r}"
              for r in ratings.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_imrmc(table, endpoint: Endpoint, path, *, include_models: bool = True) -> Path:
    """Write :func:`imrmc_text` to ``path`` (conventionally ``*.imrmc``); returns the path."""
    path = Path(path)
    path.write_text(imrmc_text(table, endpoint, include_models=include_models),
                    encoding="utf-8")
    return path


# ---- XLSX and JSON --------------------------------------------------------------------------
def _labels_wide(table: LongTable) -> pd.DataFrame:
    """Cases x readers of labels; a reader with several condition/session pairs gets one
    column per pair (``reader | condition | s<session>``)."""
    reads = table.reads
    pairs = reads.groupby("reader")[["condition", "session"]].apply(
        lambda g: len(g.drop_duplicates()))
    several = set(pairs.index[pairs.to_numpy() > 1])
    key = [r if r not in several else f"{r} | {c} | s{int(s)}"
           for r, c, s in zip(reads["reader"], reads["condition"], reads["session"],
                              strict=True)]
    wide = reads.assign(_column=key).pivot(index="case", columns="_column", values="label")
    wide = wide.sort_index()
    wide.columns.name = None
    wide.insert(0, "truth", table.cases()["truth"].reindex(wide.index))
    return wide.reset_index()


def summary_frame(comparison, *, group: str = "all") -> pd.DataFrame:
    """Per reader, model and seniority group of one site group: n, accuracy, macro F1 and
    quadratic-weighted kappa, taken from a :class:`analysis.compare.comparison.Comparison`."""
    site = comparison.group(group)
    rows = []
    for r in (*site.models, *site.readers, *site.seniority_groups):
        rows.append({
            "reader": r.reader, "kind": r.kind, "seniority": r.seniority,
            "condition": r.condition, "n": r.n_cases,
            "accuracy": r.accuracy.accuracy, "accuracy_ci_low": r.accuracy.ci[0],
            "accuracy_ci_high": r.accuracy.ci[1], "macro_f1": r.report.macro_f1,
            "kappa_quadratic": r.kappa["quadratic"].kappa,
            "macro_auc": r.macro_auc,
        })
    return pd.DataFrame(rows)


def write_xlsx(table, path, *, comparison=None) -> Path:
    """An XLSX workbook: sheet ``long reads`` (one row per read), ``labels`` (cases x readers,
    with truth) and, given a comparison, ``summary <group>`` per site group (see
    :func:`summary_frame`). Needs openpyxl."""
    table = _as_table(table)
    path = Path(path)
    reads = long_table_frame(table)
    # Excel holds no time zones: timestamps are written as ISO 8601 text
    reads["read_at"] = reads["read_at"].map(
        lambda t: None if pd.isna(t) else pd.Timestamp(t).isoformat())
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        reads.to_excel(writer, sheet_name="long reads", index=False)
        _labels_wide(table).to_excel(writer, sheet_name="labels", index=False)
        if comparison is not None:
            for site in comparison.site_groups:
                summary_frame(comparison, group=site.name).to_excel(
                    writer, sheet_name=f"summary {site.name}", index=False)
        _text_never_formula(writer.book)
    return path


def _text_never_formula(book) -> None:
    """Store every cell as the value it is: openpyxl makes any text starting with '=' a live
    formula (a reader named '=HYPERLINK(...)' would run in the researcher's spreadsheet); the
    workbook holds data only, so such cells are set back to text, unchanged."""
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"


def write_results_json(comparison, path) -> Path:
    """``Comparison.to_dict()`` as JSON (NaN written as null); returns the path."""
    path = Path(path)
    path.write_text(json.dumps(comparison.to_dict(), indent=1, allow_nan=False),
                    encoding="utf-8")
    return path


# ---- everything -----------------------------------------------------------------------------
def write_bundle(table, directory, *, comparison=None, endpoints=None,
                 labels: Sequence[str] | None = None) -> list[Path]:
    """Write every export of a long table into ``directory`` (created if needed).

    Files: ``long_table.csv``, ``long_table_dictionary.csv``; per endpoint
    ``mrmc_<slug>.csv`` and ``imrmc_<slug>.imrmc``; ``study.xlsx``; and, given a comparison,
    ``results.json``. Endpoints default to the comparison's, else to
    :func:`analysis.table.ratings.default_endpoints`.
    """
    table = _as_table(table, labels)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if endpoints is None and comparison is not None:
        endpoints = comparison.endpoints
    eps = make_endpoints(endpoints, table.labels) if endpoints is not None \
        else default_endpoints(table.labels)
    slugs = [endpoint_slug(e) for e in eps]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"endpoints: names {[e.name for e in eps]} give the same file names "
                         f"{slugs}; expected names that differ in letters or digits")
    files = write_long_table(table, directory)
    for e, slug in zip(eps, slugs, strict=True):
        files.append(write_mrmc_csv(table, e, directory / f"mrmc_{slug}.csv"))
        files.append(write_imrmc(table, e, directory / f"imrmc_{slug}.imrmc"))
    files.append(write_xlsx(table, directory / "study.xlsx", comparison=comparison))
    if comparison is not None:
        files.append(write_results_json(comparison, directory / "results.json"))
    return files
