"""A study's data exports: the long table of human reads and model predictions, and the bundle
of files a researcher takes to other software (DESIGN.md, "The long table is the interchange
format"). The files themselves are written by :mod:`analysis.table.exports`; this module only turns
database rows into the long table and picks the model versions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.compare.comparison import compare
from analysis.table import exports
from analysis.table.longtable import validate_long_table
from inference import selectors as inference_selectors
from inference.models import ModelVersion
from readers import selectors
from studies.models import Study

# The cases readers are given (sessions draw from these partitions); a model's predictions on
# training or validation cases are not a benchmark and stay out of the export.
READING_PARTITIONS = ("test", "external")


def study_export_model_versions(*, study: Study,
                                model_version: ModelVersion | None = None) -> list[ModelVersion]:
    """``[model_version]`` when given, else every model version with a prediction on a case
    of ``study`` (by SHA-256)."""
    if model_version is not None:
        return [model_version]
    return list(ModelVersion.objects.filter(predictions__image__study=study)
                .distinct().order_by("sha256"))


def study_export_long_table(*, study: Study,
                            model_version: ModelVersion | None = None) -> pd.DataFrame:
    """The study's long table: human reads (final versions) and the model's rows.

    Human rows come from :func:`readers.selectors.study_long_table`, model rows from
    :func:`inference.selectors.model_long_table` for ``model_version`` (default: every model
    version with predictions on the study), restricted to cases of the reading partitions
    (:data:`READING_PARTITIONS`) that have a reference label.

    Returns
    -------
    pandas.DataFrame
        One row per reader x case x condition x session, with every column of
        :data:`analysis.table.dictionary.DATA_DICTIONARY` (``score_<class>`` in the study's class
        order; empty for human reads).

    Raises
    ------
    ValueError
        When the study has neither reads nor predictions, or a model version's classes are not
        the study's.
    """
    codes = study.label_codes
    rows = [row for row in selectors.study_long_table(study=study)
            if row["partition"] in READING_PARTITIONS and row["truth"]]
    for version in study_export_model_versions(study=study, model_version=model_version):
        if list(version.labels) != codes:
            raise ValueError(
                f"model_version: {version.short_sha} has classes {list(version.labels)}; "
                f"expected the study's classes {codes}"
            )
        rows.extend(row for row in inference_selectors.model_long_table(
            study=study, model_version=version)
            if row["partition"] in READING_PARTITIONS and row["truth"])
    if not rows:
        raise ValueError(
            f"study {study.slug!r}: no reads and no model predictions on its test or external "
            "cases; nothing to export"
        )
    df = pd.DataFrame(rows)
    # An empty text cell and a missing value are one thing in CSV: make them one here too, so
    # that the analysis of this frame and of its exported CSV cannot differ (e.g. a model's
    # seniority).
    text = df.select_dtypes(include="object").columns
    df[text] = df[text].replace({"": None})
    for code in codes:
        column = f"score_{code}"
        if column not in df.columns:
            df[column] = float("nan")
        df[column] = pd.to_numeric(df[column], errors="coerce")
    return df


def study_export_bundle(*, study: Study, model_version: ModelVersion | None = None,
                        directory, n_bootstrap: int = 2000, seed: int = 0) -> list[Path]:
    """Write every export of ``study`` into ``directory`` and return the file paths.

    Files (see :func:`analysis.table.exports.write_bundle`): ``long_table.csv`` and its data
    dictionary, per endpoint of the study the MRMCaov/RJafroc CSV and the iMRMC file,
    ``study.xlsx`` (reads, labels, summaries) and ``results.json`` (the comparison of
    :func:`analysis.compare.comparison.compare` with ``n_bootstrap`` resamples and ``seed``).
    """
    df = study_export_long_table(study=study, model_version=model_version)
    table = validate_long_table(df, labels=study.label_codes)
    endpoints = study.endpoints or None
    comparison = compare(table, endpoints=endpoints, n_bootstrap=n_bootstrap, seed=seed)
    return exports.write_bundle(table, Path(directory), comparison=comparison)
