"""Load benchmark of blinded reading: N concurrent simulated readers against the app served by
gunicorn on PostgreSQL.

    python benchmarks/bench_reading.py --readers 50 --cases 40 --think 1.0
    python benchmarks/bench_reading.py --database-url postgres://postgres@127.0.0.1:5432/readerbench_g

The run prepares everything itself: migrates the database, imports ``--cases`` hips (series
of ``--slices`` synthetic 16-bit MR slices, 256 px) into a fresh study through the real
importer, creates ``--readers`` reader
accounts and one unaided session each (all reading cases), and starts gunicorn on
``config.wsgi`` with that ``DATABASE_URL`` and a temporary ``MEDIA_ROOT``. Each simulated reader
(one thread, one keep-alive connection, standard library only) logs in through the login form;
when all have logged in, each starts at a random time within ``--ramp`` seconds (default
``--think``; 0: all at once) and loops *next case* (``GET api/reading/<s>/next/``) → *pixels*
(``GET .../pixels/``) → *scroll* (``GET .../pixels/?slice=K``, every other slice of the hip's
series: ``--slices``, default 3) → *think* (``--think`` seconds, jittered ±50 %) → *submit*
(``POST .../reads/``) until its session is done. Latencies are measured at the client on
localhost, so they include queueing in gunicorn.

It reports p50/p95/p99 per request kind, requests per second and errors, and checks that the
reads stored in the database equal the submits the server acknowledged with 201. Goal (issue):
50 concurrent readers, p95 of *next case* < 100 ms, zero errors. The study, its cases and the
accounts made for the run are deleted afterwards.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlparse

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/readerbench_g"
PASSWORD = "bench-reader-password-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _write_cases(folder: Path, n: int, seed: int, slices: int = 1) -> list[Path]:
    """``n`` hips, each a coronal series of ``slices`` files (one case per series)."""
    import pydicom  # noqa: F401 - fail early if missing
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:256, 0:256].astype(np.float32) / 256 - 0.5
    paths = []
    for i, k in ((i, k) for i in range(n) for k in range(slices)):
        if k == 0:
            study_uid, series_uid = generate_uid(), generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(f"{i}-{k}.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.InstanceNumber = k + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
        ds.ImagePositionPatient = [-90.0, 4.0 * k, 90.0]
        ds.Modality = "MR"
        ds.PatientID = f"BENCH-{seed}-{i}"
        ds.PatientName = f"BENCH^{i}"
        r = np.hypot(x - rng.uniform(-0.05, 0.05), y)
        image = np.hypot(900 * (r < 0.3) + 200 + rng.normal(0, 40, (256, 256)),
                         rng.normal(0, 40, (256, 256)))
        ds.Rows = ds.Columns = 256
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelSpacing = ["0.7", "0.7"]
        ds.WindowCenter, ds.WindowWidth = "600", "1200"
        ds.PixelData = np.clip(image, 0, 4095).astype(np.uint16).tobytes()
        path = folder / f"{i}-{k}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def prepare(*, n_readers: int, n_cases: int, tmp: Path, tag: str, slices: int = 1) -> dict:
    """Study, cases, readers and sessions in the database the environment names."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from readers.models import ReaderProfile
    from readers.services.reading import sessions_create_bulk
    from studies.models import Image, Membership, ReferenceLabel, Site, Study
    from studies.services.dicom_import import import_dicom_files

    study = Study.objects.create(slug=f"bench-{tag}", title="Reading benchmark", synthetic=True)
    site, _ = Site.objects.get_or_create(code=f"BENCH-{tag}")
    paths = _write_cases(tmp / "dicom", n_cases, seed=1, slices=slices)
    report = import_dicom_files(paths=[str(p) for p in paths], study=study, site=site)
    if report.imported != n_cases * slices or Image.objects.filter(study=study).count() != n_cases:
        raise SystemExit(f"import: {report.imported} of {n_cases * slices} files imported")
    for i, image in enumerate(Image.objects.filter(study=study)):
        ReferenceLabel.objects.create(image=image, label=["A", "B", "C1", "C2"][i % 4],
                                      source="bench")
    Image.objects.filter(study=study).update(partition="test")
    encoded = make_password(PASSWORD)  # hashed once: the accounts share it
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"bench-{tag}-{i:03d}", password=encoded)
        for i in range(n_readers)
    )
    users = list(get_user_model().objects.filter(username__startswith=f"bench-{tag}-"))
    Membership.objects.bulk_create(
        Membership(study=study, user=u, role=Membership.Role.READER) for u in users
    )
    ReaderProfile.objects.bulk_create(
        ReaderProfile(user=u, seniority="attending", years_experience=5) for u in users
    )
    sessions = sessions_create_bulk(
        study=study, readers=users, name="bench", condition="unaided", base_seed=3
    )
    return {
        "study_id": study.pk, "site_id": site.pk,
        "readers": [(u.username, s.token) for u, s in zip(users, sessions, strict=True)],
    }


def cleanup(info: dict) -> None:
    from django.contrib.auth import get_user_model

    from readers.models import ReadingSession
    from studies.models import Site, Study

    ReadingSession.objects.filter(study_id=info["study_id"]).delete()
    Study.objects.filter(pk=info["study_id"]).delete()
    Site.objects.filter(pk=info["site_id"]).delete()
    get_user_model().objects.filter(username__in=[u for u, _ in info["readers"]]).delete()


def stored_reads(info: dict) -> int:
    from readers.models import Read

    return Read.objects.filter(item__session__study_id=info["study_id"]).count()


# --- a simulated reader ---------------------------------------------------------------------


class Reader:
    def __init__(self, port: int, username: str, token: str, think: float, seed: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.username, self.token, self.think = username, token, think
        self.rng = random.Random(seed)
        self.timings: dict[str, list[float]] = {"next": [], "pixels": [], "slice": [],
                                                "submit": []}
        self.errors: list[str] = []
        self.created = 0

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # reconnect once on a dropped keep-alive connection
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        elapsed = time.perf_counter() - started
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data, elapsed

    def log_in(self):
        status, body, _ = self.request("GET", "/accounts/login/")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        if status != 200 or not match:
            raise RuntimeError(f"login page: {status}")
        form = urlencode({
            "username": self.username, "password": PASSWORD,
            "csrfmiddlewaretoken": match.group(1).decode(), "next": "/read/",
        })
        status, _, _ = self.request("POST", "/accounts/login/", form, {
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": "http://127.0.0.1/accounts/login/",
        })
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login: {status}")

    def run(self, start: threading.Barrier, ramp: float):
        start.wait()
        time.sleep(self.rng.uniform(0, ramp))  # readers do not all open a case in the same ms
        base = f"/api/reading/{self.token}/"
        while True:
            status, body, t = self.request("GET", base + "next/")
            self.timings["next"].append(t)
            if status != 200:
                self.errors.append(f"next {status}")
                return
            data = json.loads(body)
            if data["done"]:
                return
            case = data["case"]
            status, pixels, t = self.request("GET", f"{base}cases/{case['token']}/pixels/")
            self.timings["pixels"].append(t)
            expected = case["pixels"]["rows"] * case["pixels"]["columns"] * 2
            if status != 200 or len(pixels) != expected:
                self.errors.append(f"pixels {status} ({len(pixels)} bytes)")
                return
            # scroll the series: every other slice once (the viewer fetches each as shown)
            for k in range(case.get("slices", 1)):
                if k == case.get("designated_slice", 0):
                    continue
                status, data, t = self.request(
                    "GET", f"{base}cases/{case['token']}/pixels/?slice={k}")
                self.timings["slice"].append(t)
                if status != 200 or len(data) != expected:
                    self.errors.append(f"slice {k}: {status} ({len(data)} bytes)")
                    return
            if self.think:
                time.sleep(self.think * self.rng.uniform(0.5, 1.5))
            read = json.dumps({
                "stage": "unaided", "label": self.rng.choice(["A", "B", "C1", "C2"]),
                "confidence": self.rng.randint(0, 100), "comment": "",
                "time_ms": self.rng.randint(2000, 30000), "request_id": str(uuid.uuid4()),
            })
            status, body, t = self.request("POST", f"{base}cases/{case['token']}/reads/", read, {
                "Content-Type": "application/json", "X-CSRFToken": self.cookies["csrftoken"],
                "Referer": "http://127.0.0.1/read/",
            })
            self.timings["submit"].append(t)
            if status != 201:
                self.errors.append(f"submit {status}: {body[:200]!r}")
                return
            self.created += 1


def _percentiles(values: list[float]) -> str:
    if not values:
        return "no requests"
    ms = np.asarray(values) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return (f"n={len(ms):5d}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms  "
            f"max {ms.max():7.1f} ms")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--slices", type=int, default=3,
                        help="slices per case (a hip series; each reader scrolls through all)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="seconds a reader looks at a case before submitting (±50 %%)")
    parser.add_argument("--ramp", type=float, default=None,
                        help="readers start at uniform random times over this many seconds "
                        "(default: --think; 0: all at once)")
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn worker processes (default: config/gunicorn_conf.py's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per gunicorn worker (default: the config file's)")
    parser.add_argument("--keep-alive", type=int, default=None,
                        help="gunicorn keep-alive seconds (default: the config file's, 0)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--keep", action="store_true", help="keep the study and accounts")
    args = parser.parse_args(argv)
    if args.ramp is None:
        args.ramp = args.think

    tmp = Path(tempfile.mkdtemp(prefix="bench-reading-"))
    env = {
        **os.environ, "DATABASE_URL": args.database_url, "MEDIA_ROOT": str(tmp / "media"),
        "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "MEDIA_ROOT", "DJANGO_SETTINGS_MODULE",
                                           "DEBUG", "ALLOWED_HOSTS", "LOG_LEVEL")})
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO))
    _ensure_database(args.database_url)
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
                   cwd=REPO, env=env, check=True)
    tag = uuid.uuid4().hex[:8]
    t0 = time.perf_counter()
    info = prepare(n_readers=args.readers, n_cases=args.cases, tmp=tmp, tag=tag,
                   slices=args.slices)
    print(f"prepared {args.cases} cases of {args.slices} slices, {args.readers} readers and "
          f"sessions in {time.perf_counter() - t0:.1f} s "
          f"({urlparse(args.database_url).path.lstrip('/')})")
    port = _free_port()
    # The deployment's own gunicorn settings (config/gunicorn_conf.py), as compose runs them.
    overrides = [f"--{flag}={value}" for flag, value in (
        ("workers", args.workers), ("threads", args.threads), ("keep-alive", args.keep_alive))
        if value is not None]
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", "config/gunicorn_conf.py",
         "config.wsgi:application", "--bind", f"127.0.0.1:{port}", *overrides,
         "--log-level", "warning"],
        cwd=REPO, env=env, start_new_session=True,
    )
    try:
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/health/")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("gunicorn did not answer /health/")
        readers = [
            Reader(port, u, t, args.think, seed=i) for i, (u, t) in enumerate(info["readers"])
        ]
        t0 = time.perf_counter()
        login_threads = [threading.Thread(target=r.log_in) for r in readers]
        for th in login_threads:
            th.start()
        for th in login_threads:
            th.join()
        print(f"{len(readers)} readers logged in in {time.perf_counter() - t0:.1f} s")
        barrier = threading.Barrier(len(readers) + 1)
        threads = [threading.Thread(target=r.run, args=(barrier, args.ramp)) for r in readers]
        for th in threads:
            th.start()
        barrier.wait()
        t0 = time.perf_counter()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    timings = {k: [t for r in readers for t in r.timings[k]]
               for k in ("next", "pixels", "slice", "submit")}
    errors = [e for r in readers for e in r.errors]
    acknowledged = sum(r.created for r in readers)
    in_db = stored_reads(info)
    n_requests = sum(len(v) for v in timings.values())
    print(f"\n{args.readers} concurrent readers, {args.cases} cases each, think {args.think} s, "
          f"start ramp {args.ramp} s, gunicorn config/gunicorn_conf.py {' '.join(overrides)}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    for kind, label in [("next", "next case"), ("pixels", "pixels"), ("slice", "scroll"),
                        ("submit", "submit")]:
        print(f"  {label:<10} {_percentiles(timings[kind])}")
    print(f"  {n_requests} requests in {wall:.1f} s ({n_requests / wall:.0f} req/s)")
    print(f"  errors: {len(errors)}{' — ' + '; '.join(errors[:5]) if errors else ''}")
    print(f"  reads acknowledged (201): {acknowledged}, in the database: {in_db}, "
          f"expected: {args.readers * args.cases}")
    ok_reads = acknowledged == in_db == args.readers * args.cases
    p95 = float(np.percentile(np.asarray(timings["next"]) * 1000, 95)) if timings["next"] else 1e9
    verdict = "PASS" if (not errors and ok_reads and p95 < 100) else "FAIL"
    print(f"  goal (p95 next case < 100 ms, zero errors, reads == submits): {verdict}")
    if not args.keep:
        cleanup(info)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
