"""Checks that a stored file is de-identified, shared by the de-identification and import
tests: every element, recursively through sequences, is held against PS3.15 Table E.1-1 and
the keep-list (an attribute on neither is a leak)."""

from __future__ import annotations

import re

from pydicom.dataset import Dataset
from pydicom.valuerep import PersonName

from studies.dicom.deid import DEIDENTIFICATION_METHOD, METHOD_CODE
from studies.dicom.ps315 import ATTRIBUTE_NAMES, deidentification_action

PSEUDONYM = re.compile(r"^P-[0-9a-f]{16}$")
REPLACED_UID = re.compile(r"^2\.25\.[1-9][0-9]{0,38}$")
_DUMMIES = {"ANONYMOUS", "19000101", "19000101000000", "000000", "000Y", "0", 0}


def _values(elem) -> list:
    value = elem.value
    if value is None or value == "" or value == b"":
        return []
    if isinstance(value, str | bytes | int | float | PersonName):
        return [value]
    return list(value)


def assert_deidentified(ds: Dataset, *, original_uids: set[str] = frozenset()) -> None:
    """Fail on any element the Basic Profile would not let through."""
    problems: list[str] = []

    def walk(dataset: Dataset, where: str) -> None:
        for elem in dataset:
            tag = int(elem.tag)
            name = ATTRIBUTE_NAMES.get(tag, elem.keyword or str(elem.tag))
            here = f"{where}{name} {elem.tag}"
            if elem.tag.is_private:
                problems.append(f"{here}: private attribute kept")
                continue
            action = deidentification_action(tag)
            if action is not None and action.startswith("X"):
                problems.append(f"{here}: action {action} but present")
            elif action in ("Z", "Z/D"):
                values = _values(elem)
                if tag in (0x00100010, 0x00100020):
                    if not (len(values) == 1 and PSEUDONYM.match(str(values[0]))):
                        problems.append(f"{here}: expected the pseudonym, got {values!r}")
                elif values:
                    problems.append(f"{here}: action {action} but has value {values!r}")
            elif action == "D":
                values = _values(elem)
                if elem.VR == "UI":
                    bad = [v for v in values if not REPLACED_UID.match(str(v))]
                elif elem.VR == "SQ":
                    bad = values
                else:
                    bad = [v for v in values if v not in _DUMMIES]
                if bad:
                    problems.append(f"{here}: action D but holds {bad!r}")
            elif action == "U":
                for value in _values(elem):
                    if not REPLACED_UID.match(str(value)) or str(value) in original_uids:
                        problems.append(f"{here}: UID {value} not replaced")
            if elem.VR == "SQ" and elem.value:
                for i, item in enumerate(elem.value):
                    walk(item, f"{here}[{i}] > ")

    walk(ds, "")
    meta_uid = ds.file_meta.get("MediaStorageSOPInstanceUID") if ds.file_meta else None
    if meta_uid is not None and meta_uid != ds.SOPInstanceUID:
        problems.append("file meta SOP Instance UID differs from the data set's")
    if "SourceApplicationEntityTitle" in (ds.file_meta or {}):
        problems.append("file meta keeps the source AE title")
    if ds.get("PatientIdentityRemoved") != "YES":
        problems.append("Patient Identity Removed is not YES")
    if list(ds.get("DeidentificationMethod", [])) != list(DEIDENTIFICATION_METHOD):
        problems.append("De-identification Method missing")
    codes = ds.get("DeidentificationMethodCodeSequence") or []
    if [(c.CodeValue, c.CodingSchemeDesignator) for c in codes] != [METHOD_CODE[:2]]:
        problems.append("De-identification Method Code Sequence is not DCM 113100")
    assert not problems, "\n".join(problems)
