"""Where the reference data sets live: a copy of ``../shared/reference-data`` kept in the
repository (tests/reference_data/, with its README), so that the statistics tests run from any
checkout. ``READERBENCH_REFERENCE_DATA`` points the tests at another copy."""

import os
from pathlib import Path

_DEFAULT = Path(__file__).resolve().parent / "reference_data"
REFERENCE_DATA = Path(os.environ.get("READERBENCH_REFERENCE_DATA") or _DEFAULT)
