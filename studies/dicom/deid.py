"""De-identification by the DICOM PS3.15 Basic Application Level Confidentiality Profile.

:func:`deidentify` applies Table E.1-1 (see :mod:`studies.dicom.ps315`) to a dataset in place,
recursively through sequences, and records what it did. How each Basic Profile action is
carried out here:

=========  ========================================================================================
action     what happens
=========  ========================================================================================
``X``      the element is removed. Private attributes (odd groups), overlays (``60xx``) and curves
           (``50xx``) are removed whole.
``Z``      the value is emptied (a sequence loses its items). Patient's Name is the exception: it
           receives the patient's pseudonym, a dummy value the profile allows.
``D``      a non-empty dummy of the element's VR (``ANONYMOUS``, ``19000101``, ``0``...); a
           sequence loses its items; a UID receives a replacement UID.
``U``      every UID value is replaced by its keyed hash (below).
``Z/D``    as ``Z``; Patient ID receives the pseudonym.
``X/Z``,   as ``X``: none of these attributes is Type 1 or 2 in the single-frame image IODs we
``X/D``,   store (MR, CT, CR/DX, SC), so removing them keeps the instance conformant.
``X/Z/D``,
``X/Z/U*``
=========  ========================================================================================

Attributes the table does not list are kept only when they are on the keep-list
(:data:`studies.dicom.ps315.KEEP`: image pixel module, geometry, acquisition parameters, LUTs,
laterality, the Enhanced MR functional groups...) or among the extra tags a deployment names
(``keep``, from ``READERBENCH_DEID_KEEP_TAGS``); every other attribute, an unknown even-group
tag with free text included, is removed, recursively through kept sequences. Group length
elements ``(gggg,0000)`` of the data set are removed because they would no longer be right.

**UID replacement.** A UID ``u`` becomes ``2.25.<n>`` (PS3.5 B.2, a UID derived from a UUID),
where ``n`` is the integer of the first 128 bits of ``HMAC-SHA256(key, "uid\\0" + u)`` with the
RFC 9562 version-8 ("custom") and variant bits set. It is deterministic for a key, so the same
original UID always maps to the same new one (within a file, across files and across imports),
relationships between Study, Series, Frame of Reference and referenced instances survive, and
nobody without the key can recover the original. The result is at most 44 characters.

**Patient pseudonym.** ``P-`` followed by the first 16 hex digits of
``HMAC-SHA256(key, "patient\\0" + study + "\\0" + site + "\\0" + patient_key)``: the same patient
key from the same site of the same study always gets the same pseudonym, and the same key from
another site another one.

References
----------
DICOM PS3.15 2024b, Annex E "Attribute Confidentiality Profiles", E.1.1 and Table E.1-1.
DICOM PS3.5 2024b, B.2 "UUID Derived UID". RFC 9562 "Universally Unique IDentifiers", 5.8.
"""

from __future__ import annotations

import hashlib
import hmac

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from studies.dicom.ps315 import EDITION, deidentification_action

#: Recorded in De-identification Method (0012,0063), LO: values of at most 64 characters.
DEIDENTIFICATION_METHOD = (
    f"PS3.15 {EDITION} Basic Application Confidentiality Profile",
    "ReaderBench: UIDs replaced by keyed hash (2.25)",
    "ReaderBench: patient replaced by keyed pseudonym",
    "ReaderBench: private, overlay and curve groups removed",
    "ReaderBench: attributes not on its keep-list removed",
)
#: CID 7050 "De-identification Method": DCM 113100 "Basic Application Confidentiality Profile".
METHOD_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")

PSEUDONYM_PREFIX = "P-"

_DUMMY_TEXT = "ANONYMOUS"
_DUMMY = {
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "AS": "000Y",
    "IS": "0",
    "DS": "0",
    "US": 0,
    "SS": 0,
    "UL": 0,
    "SL": 0,
    "UV": 0,
    "SV": 0,
    "FL": 0.0,
    "FD": 0.0,
    "AT": 0,
}
_BINARY_VRS = {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}


def _as_key(key: bytes | str) -> bytes:
    data = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if not data:
        raise ValueError("key: the pseudonym key is empty; set READERBENCH_PSEUDONYM_KEY")
    return data


def uid_replacement(uid: str, *, key: bytes | str) -> str:
    """The replacement of ``uid``: ``2.25.<int of 128 bits of HMAC-SHA256(key, uid)>``.

    >>> uid_replacement("1.2.3", key=b"k") == uid_replacement("1.2.3 ", key=b"k")
    True
    >>> uid_replacement("1.2.3", key=b"k").startswith("2.25.")
    True
    """
    message = b"uid\0" + str(uid).strip().strip("\0").encode("ascii", "replace")
    digest = bytearray(hmac.new(_as_key(key), message, hashlib.sha256).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80  # RFC 9562 version 8
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 9562 variant 10xx
    return f"2.25.{int.from_bytes(digest, 'big')}"


def patient_pseudonym(*, key: bytes | str, study: str, site: str, patient_key: str) -> str:
    """The keyed-hash pseudonym of a patient of one site in one study, e.g. ``P-3f9c0a1b2c3d4e5f``.

    >>> a = patient_pseudonym(key="k", study="onfh", site="S1", patient_key="123")
    >>> a == patient_pseudonym(key="k", study="onfh", site="S1", patient_key="123")
    True
    >>> a == patient_pseudonym(key="k", study="onfh", site="S2", patient_key="123")
    False
    """
    if not str(patient_key).strip():
        raise ValueError("patient_key: empty; expected a patient identifier")
    message = "\0".join(("patient", study, site, str(patient_key).strip())).encode("utf-8")
    digest = hmac.new(_as_key(key), message, hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:16]


class _Deidentifier:
    """Walks a data set once. Elements are replaced without converting the originals where the
    old value is not needed, so pydicom neither parses nor validates values we throw away."""

    def __init__(self, key: bytes, pseudonym: str, keep: frozenset[int]) -> None:
        self.key = key
        self.pseudonym = pseudonym
        self.keep = keep
        self.uids: dict[str, str] = {}

    def uid(self, value) -> str:
        text = str(value).strip().strip("\0")
        new = self.uids.get(text)
        if new is None:
            new = self.uids[text] = uid_replacement(text, key=self.key) if text else ""
        return new

    @staticmethod
    def vr(ds: Dataset, tag) -> str:
        elem = ds.get_item(tag)
        vr = elem.VR
        if vr is None:  # implicit VR: look the VR up without converting the element
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                vr = "UN"
        if vr == "UN" or " or " in vr:  # let pydicom resolve it (UN may hide a sequence)
            vr = ds[tag].VR
        return vr

    def new_uids(self, ds: Dataset, tag) -> list[str]:
        elem = ds.get_item(tag)
        if isinstance(elem, RawDataElement):
            raw = elem.value or b""
            values = raw.decode("ascii", "replace").strip(" \0").split("\\")
        else:
            value = elem.value
            if value is None:
                values = []
            elif isinstance(value, MultiValue | list | tuple):
                values = [str(v) for v in value]
            else:
                values = [str(value)]
        return [self.uid(v) for v in values if v.strip(" \0")]

    def dataset(self, ds: Dataset, *, top: bool) -> None:
        for tag in list(ds.keys()):
            if top and tag.element == 0 and tag.group != 0x0002:
                del ds[tag]  # group length: stale after editing
                continue
            action = deidentification_action(int(tag), keep=self.keep)
            if action is None:
                if self.vr(ds, tag) == "SQ":
                    for item in ds[tag].value or ():
                        self.dataset(item, top=False)
            elif action == "U":
                values = self.new_uids(ds, tag)
                ds[tag] = DataElement(tag, "UI", values if len(values) != 1 else values[0])
            elif action in ("Z", "Z/D"):
                self.empty(ds, tag)
            elif action == "D":
                self.dummy(ds, tag)
            else:  # X and the combined actions that begin with X
                del ds[tag]

    def empty(self, ds: Dataset, tag) -> None:
        vr = self.vr(ds, tag)
        if tag in (0x00100010, 0x00100020):  # Patient's Name, Patient ID
            value = self.pseudonym
        elif vr == "SQ":
            value = Sequence()
        else:
            value = None  # written as a zero-length value
        ds[tag] = DataElement(tag, vr, value)

    def dummy(self, ds: Dataset, tag) -> None:
        vr = self.vr(ds, tag)
        if vr == "SQ":
            value = Sequence()
        elif vr == "UI":
            value = self.new_uids(ds, tag) or uid_replacement("dummy", key=self.key)
        elif vr in _BINARY_VRS:
            value = b"\0\0"
        else:
            value = _DUMMY.get(vr, _DUMMY_TEXT)
        ds[tag] = DataElement(tag, vr, value)


def deidentify(
    ds: Dataset, *, key: bytes | str, pseudonym: str, keep: frozenset[int] = frozenset()
) -> Dataset:
    """Apply the Basic Application Level Confidentiality Profile to ``ds`` in place.

    Parameters
    ----------
    ds
        The dataset as read (its file meta, if any, is rebuilt by the caller when writing).
    key
        The secret of the keyed hashes (``settings.PSEUDONYM_KEY``).
    pseudonym
        The patient's pseudonym (:func:`patient_pseudonym`), written as Patient's Name and
        Patient ID.
    keep
        Tags (ints ``0xggggeeee``) kept as they are besides the keep-list; only for attributes
        the profile does not list (the table's actions and the private, overlay and curve
        groups still apply).

    Returns
    -------
    Dataset
        ``ds`` itself, with Patient Identity Removed (0012,0062) = ``YES``, De-identification
        Method (0012,0063) and De-identification Method Code Sequence (0012,0064) set.
    """
    worker = _Deidentifier(_as_key(key), pseudonym, frozenset(keep))
    worker.dataset(ds, top=True)
    ds.add_new(0x00100010, "PN", pseudonym)  # Patient's Name
    ds.add_new(0x00100020, "LO", pseudonym)  # Patient ID
    ds.add_new(0x00120062, "CS", "YES")  # Patient Identity Removed
    ds.add_new(0x00120063, "LO", list(DEIDENTIFICATION_METHOD))
    code = Dataset()
    code.add_new(0x00080100, "SH", METHOD_CODE[0])  # Code Value
    code.add_new(0x00080102, "SH", METHOD_CODE[1])  # Coding Scheme Designator
    code.add_new(0x00080104, "LO", METHOD_CODE[2])  # Code Meaning
    ds.add_new(0x00120064, "SQ", Sequence([code]))  # De-identification Method Code Sequence
    # Dates are removed or emptied by the Basic Profile (no Retain Longitudinal option).
    ds.add_new(0x00280303, "CS", "REMOVED")  # Longitudinal Temporal Information Modified
    return ds
