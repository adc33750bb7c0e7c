"""What the DICOM networking tests share: a real Orthanc (Debian's package) on loopback, started
once per session with its own configuration and storage, and the skip when it is missing."""

from __future__ import annotations

import pytest

from tests.network import orthanc as orthanc_module


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    why = orthanc_module.missing()
    if why:
        pytest.skip(f"DICOM networking tests need a real PACS: {why}")
    with orthanc_module.running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server
