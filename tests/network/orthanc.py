"""A real Orthanc PACS for the DICOM networking tests: started from Debian's ``orthanc`` package
with a temporary configuration (loopback only, no authentication, its own storage folder, the
DICOMweb plugin loaded, free ports), so that the tests depend neither on nor collide with an
Orthanc the package may run as a system service on 4242/8042."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"))
AE_TITLE = "ORTHANC"


def dicomweb_plugin() -> Path | None:
    """The DICOMweb plugin of Debian's ``orthanc-dicomweb``, or None."""
    for folder in PLUGIN_DIRS:
        for path in sorted(folder.glob("libOrthancDicomWeb.so*")):
            return path
    return None


def missing() -> str | None:
    """Why an Orthanc cannot be started here (the tests skip with it), or None."""
    if not Path(ORTHANC).exists():
        return "Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)"
    if dicomweb_plugin() is None:
        return "Orthanc's DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)"
    return None


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Orthanc:
    """A running Orthanc: its REST root, its DICOMweb root and its own DICOM port."""

    url: str
    dicom_port: int
    process: subprocess.Popen
    log: Path

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def upload(self, path: Path) -> dict:
        """Store one DICOM file in Orthanc over its REST API (``POST /instances``)."""
        response = requests.post(f"{self.url}/instances", data=path.read_bytes(), timeout=30)
        response.raise_for_status()
        return response.json()

    def studies(self) -> list[str]:
        response = requests.get(f"{self.url}/studies", timeout=30)
        response.raise_for_status()
        return response.json()

    def study_uid(self, orthanc_id: str) -> str:
        response = requests.get(f"{self.url}/studies/{orthanc_id}", timeout=30)
        response.raise_for_status()
        return response.json()["MainDicomTags"]["StudyInstanceUID"]

    def send(self, modality: str, resources: list[str]) -> requests.Response:
        """Have Orthanc send ``resources`` (its ids) to a configured modality by C-STORE;
        synchronous: it answers once the association is released."""
        return requests.post(
            f"{self.url}/modalities/{modality}/store",
            json={"Resources": resources, "Synchronous": True},
            timeout=120,
        )

    def set_modality(self, name: str, *, ae_title: str, port: int) -> None:
        """Declare (or change) a DICOM modality Orthanc may send to, on loopback."""
        response = requests.put(
            f"{self.url}/modalities/{name}",
            json={"AET": ae_title, "Host": "127.0.0.1", "Port": port},
            timeout=30,
        )
        response.raise_for_status()

    def clear(self) -> None:
        """Remove every patient Orthanc holds."""
        for patient in requests.get(f"{self.url}/patients", timeout=30).json():
            requests.delete(f"{self.url}/patients/{patient}", timeout=30).raise_for_status()


@contextlib.contextmanager
def running_orthanc(
    folder: Path,
    *,
    modalities: dict[str, tuple[str, int]] | None = None,
    users: dict[str, str] | None = None,
) -> Iterator[Orthanc]:
    """Start an Orthanc with its configuration and storage under ``folder``; stop it after.
    With ``users`` (name: password), its HTTP API asks for basic authentication."""
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "readerbench-tests",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": AE_TITLE,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": bool(users),
        "RegisteredUsers": users or {},
        "SslEnabled": False,
        "Plugins": [str(dicomweb_plugin())],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
        "DicomModalities": {
            name: [aet, "127.0.0.1", port] for name, (aet, port) in (modalities or {}).items()
        },
        "DicomAlwaysAllowEcho": True,
        "DicomCheckCalledAet": False,
        "StorageCompression": False,
        "SaveJobs": False,
        "HttpTimeout": 30,
        "DicomScuTimeout": 10,
        "StableAge": 1,
        "ExecuteLuaEnabled": False,
        "RestApiWriteToFileSystemEnabled": False,
    }
    config_path = folder / "orthanc.json"
    config_path.write_text(json.dumps(config))
    log = folder / "orthanc.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own binary and config
            [ORTHANC, str(config_path)], stdout=out, stderr=subprocess.STDOUT
        )
    orthanc = Orthanc(f"http://127.0.0.1:{http_port}", dicom_port, process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"Orthanc exited ({process.returncode}):\n{log.read_text()}")
            with contextlib.suppress(requests.ConnectionError):
                # Answering at all is ready (401 when it asks for a password).
                if requests.get(f"{orthanc.url}/system", timeout=2).status_code in (200, 401):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc did not answer in 30 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield orthanc
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
