"""The data dictionary of the long table: each column's type, whether it is required, and what
it means; written as CSV next to every exported long table."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from analysis.table.longtable import SCORE_PREFIX

# column -> (type, required, description). The export writes this next to the CSV.
DATA_DICTIONARY: dict[str, tuple[str, bool, str]] = {
    "study": ("text", False, "Study identifier; one study per file is analysed."),
    "reader": ("text", True, "Reader identifier (a person, or a model version)."),
    "reader_kind": ("human|model", True, "'human' for a person, 'model' for a model version, "
                    "which is analysed as a reader."),
    "seniority": ("text", False, "Reader group (e.g. chief, deputy chief, attending, resident); "
                  "empty for models."),
    "condition": ("text", True, "Reading condition, e.g. 'unaided' or 'AI-aided'."),
    "session": ("integer", True, "Session number of this reader under this condition (1, 2...); "
                "a second session of the same condition measures intra-reader agreement."),
    "case": ("text", True, "Case identifier: the unit that is read and predicted (one image)."),
    "patient": ("text", True, "Patient identifier (pseudonymous); the bootstrap resamples "
                "patients, so that both hips of a patient stay together."),
    "hip": ("text", False, "Hip identifier or side (left/right)."),
    "site": ("text", False, "Site (institution) of the case."),
    "partition": ("text", False, "train / validation / test / external. Cases of the 'external' "
                  "partition form the external site group."),
    "truth": ("label", True, "Reference label of the case (one of the study's ordered classes)."),
    "label": ("label", True, "The class this reader gave (for a model, its predicted class); "
              "empty only on an indeterminate read."),
    "indeterminate": ("true|false", False, "True when the reader could not grade the case "
                      "(non-diagnostic image); the row then has no label. Indeterminate reads "
                      "are left out of the reader's metrics and counted apart (STARD)."),
    "confidence": ("number 0-100", False, "Reader's confidence in the label (0 = guessing, "
                   "100 = certain); turned into scores by analysis.table.ratings."),
    "score_<class>": ("number >= 0", False, "Per-class score or probability, one column per "
                      "class in the scheme's order (a model's softmax output); rows without "
                      "scores leave them empty."),
    "time_ms": ("integer", False, "Time spent on the case, in milliseconds."),
    "order_index": ("integer", False, "Position of the case in this reader's session (0-based)."),
    "read_at": ("ISO 8601 timestamp", False, "When the read was submitted. When a read was "
                "changed, every version has its own row and the latest read_at wins."),
    "version": ("integer", False, "Version number of a read (1, 2...); the highest wins when "
                "read_at is equal or absent."),
}


def write_data_dictionary(target=None, *, labels: Sequence[str] | None = None) -> str:
    """Write the data dictionary as CSV (``column,type,required,description``).

    With ``labels``, the ``score_<class>`` entry is expanded to one row per class.
    ``target``: a path or a writable text file; None returns the CSV text only.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["column", "type", "required", "description"])
    for column, (kind, required, description) in DATA_DICTIONARY.items():
        if column == "score_<class>" and labels:
            for label in labels:
                writer.writerow([SCORE_PREFIX + str(label), kind, "no",
                                 f"Score for class {label!r}. " + description])
            continue
        writer.writerow([column, kind, "yes" if required else "no", description])
    text = buffer.getvalue()
    if target is None:
        return text
    if isinstance(target, str | Path):
        Path(target).write_text(text, encoding="utf-8")
    else:
        target.write(text)
    return text
