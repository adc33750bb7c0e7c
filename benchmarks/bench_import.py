"""Benchmark the DICOM import against the bare cost of reading and writing the same files.

    python benchmarks/bench_import.py --files 500
    python benchmarks/bench_import.py --files 500 --database-url postgres://postgres@127.0.0.1:5432/readerbench

It writes N synthetic 16-bit MR slices with identifying tags (the phantom generator's
``write_phantom_study``, 256 px; ``--own-writer``: our own 256-384 px slices), then measures in
one run:

- *bare*: ``pydicom.dcmread`` + ``pydicom.dcmwrite`` of every file (to a scratch folder);
- *import*: :func:`studies.services.dicom_import.import_dicom_files` on the same folder
  (validation, de-identification, storage by hash, cached array, database rows) into a fresh
  SQLite database in a temporary folder, or the database given by ``--database-url`` (a study
  and site made for the run are deleted afterwards).

Goal (issue): import time at most 3x the bare read+write, and at least 100 files/s per core (the
import runs in one process). ``--profile`` prints the 25 most expensive functions.

``--syntax`` compresses the same slices before the runs, to measure the decoding import:

- ``jpeg-lossless``: JPEG Lossless SV1 (Process 14, 1.2.840.10008.1.2.4.70), the syntax PACS
  send most; pydicom has no encoder for it, so the files are compressed by DCMTK's ``dcmcjpeg``
  (``+e1``; skipped with a message when it is not installed);
- ``rle``: RLE Lossless, encoded by pydicom (the pylibjpeg-rle plugin);
- ``j2k-lossless``: JPEG 2000 Lossless, encoded by pydicom (the pylibjpeg-openjpeg plugin).

For a compressed syntax, *bare* is ``pydicom.dcmread`` + ``Dataset.decompress`` (the same
decoder plugins the import uses) + ``pydicom.dcmwrite``, i.e. the least any import storing
uncompressed files must do.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _phantom_pixels(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth disc-and-ring image with Rician-like noise: compresses and sorts like MR."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    r = np.hypot(x - rng.uniform(-0.05, 0.05), y - rng.uniform(-0.05, 0.05))
    image = 900 * (r < 0.3) + 500 * ((r > 0.32) & (r < 0.36)) + 200
    noise = rng.normal(0, 40, (2, size, size))
    image = np.hypot(image + noise[0], noise[1])
    return np.clip(image, 0, 4095).astype(np.uint16)


def write_files(folder: Path, n: int, seed: int = 0) -> list[Path]:
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    study_uid = generate_uid()
    for i in range(n):
        size = int(rng.integers(256, 385))
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        if i % 2 == 0:
            study_uid = generate_uid()
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = generate_uid()
        ds.FrameOfReferenceUID = generate_uid()
        ds.Modality = "MR"
        ds.PatientName = f"PATIENT^{i // 2:05d}"
        ds.PatientID = f"ID{i // 2:06d}"
        ds.PatientBirthDate = "19600101"
        ds.PatientSex = "F"
        ds.InstitutionName = "Bench Hospital"
        ds.ReferringPhysicianName = "REFERRER^A"
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240101"
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
        ds.AccessionNumber = f"ACC{i:06d}"
        ds.StudyDescription = "MRI HIP"
        ds.SeriesDescription = "COR T1"
        ds.ImageLaterality = "L" if i % 2 == 0 else "R"
        block = ds.private_block(0x0029, "BENCH 1.0", create=True)
        block.add_new(0x01, "LO", "private")
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelSpacing = [f"{300 / size:.4f}", f"{300 / size:.4f}"]
        ds.WindowCenter, ds.WindowWidth = "800", "1600"
        ds.PixelData = _phantom_pixels(rng, size).tobytes()
        path = folder / f"{i:05d}.dcm"
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def _input_files(folder: Path, n: int, *, own: bool) -> tuple[list[Path], str]:
    """About ``n`` DICOM files: from the phantom generator when it is there (one site, about
    two images per patient), else from :func:`write_files`."""
    if not own:
        try:
            from inference.engine.phantom_dicom import write_phantom_study
        except ImportError:
            pass
        else:
            paths: list[Path] = []
            patients = max(1, n // 2)
            while len(paths) < n:
                out = folder / f"batch-{len(paths)}"
                write_phantom_study(
                    out, patients=patients, sites=1, external_sites=0, seed=n + len(paths)
                )
                paths.extend(sorted(out.rglob("*.dcm")))
                patients = max(1, (n - len(paths)) // 2 + 1)
            for extra in paths[n:]:
                extra.unlink()
            return paths[:n], "inference.engine.phantom_dicom.write_phantom_study"
    return write_files(folder, n), "own phantom-like writer (256-384 px)"


SYNTAXES = ("explicit", "jpeg-lossless", "rle", "j2k-lossless")


def compress_files(paths: list[Path], syntax: str, folder: Path) -> list[Path]:
    """Copies of ``paths`` in ``syntax`` (see the module docstring for the encoders)."""
    import pydicom
    from pydicom.uid import JPEG2000Lossless, RLELossless

    folder.mkdir(parents=True, exist_ok=True)
    out = [folder / f"{i:05d}.dcm" for i in range(len(paths))]
    if syntax == "jpeg-lossless":
        dcmcjpeg = shutil.which("dcmcjpeg")
        if dcmcjpeg is None:
            raise SystemExit("--syntax jpeg-lossless needs DCMTK's dcmcjpeg (apt install dcmtk)")
        for source, target in zip(paths, out, strict=True):
            subprocess.run([dcmcjpeg, "+e1", str(source), str(target)], check=True)
        return out
    uid = {"rle": RLELossless, "j2k-lossless": JPEG2000Lossless}[syntax]
    for source, target in zip(paths, out, strict=True):
        ds = pydicom.dcmread(source)
        ds.compress(uid, encoding_plugin="pylibjpeg", generate_instance_uid=False)
        ds.save_as(target, enforce_file_format=True)
    return out


def _setup_django(tmp: Path, database_url: str | None) -> None:
    sys.path.insert(0, str(REPO))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["READERBENCH_DATA_DIR"] = str(tmp)
    os.environ["MEDIA_ROOT"] = str(tmp / "media")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite database")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (best is kept)")
    parser.add_argument(
        "--own-writer", action="store_true", help="write 256-384 px files instead of phantoms"
    )
    parser.add_argument("--profile", action="store_true", help="profile the first import run")
    parser.add_argument(
        "--syntax",
        choices=SYNTAXES,
        default="explicit",
        help="transfer syntax of the input files (default: uncompressed explicit VR LE)",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-import-") as scratch:
        tmp = Path(scratch)
        _setup_django(tmp, args.database_url)
        import pydicom
        from django.db import connection

        from studies.models import Image, Site, Study
        from studies.services.dicom_import import import_dicom_files

        paths, generator = _input_files(tmp / "in", args.files, own=args.own_writer)
        compressed = args.syntax != "explicit"
        if compressed:
            paths = compress_files(paths, args.syntax, tmp / f"in-{args.syntax}")
            generator += f", compressed {args.syntax}"
        size = sum(p.stat().st_size for p in paths)

        # Best of --repeat runs of each, interleaved, on wall-clock and on CPU time: the CPU
        # time of this process is what "per core" means on a machine shared with others.
        bare_wall = bare_cpu = full_wall = full_cpu = float("inf")
        report = None
        for attempt in range(args.repeat):
            bare_out = tmp / f"bare-{attempt}"
            bare_out.mkdir()
            os.sync()  # each timed phase starts without the other's dirty pages to write back
            wall, cpu = time.perf_counter(), time.process_time()
            for path in paths:
                ds = pydicom.dcmread(path)
                if compressed:
                    ds.decompress(generate_instance_uid=False)
                pydicom.dcmwrite(bare_out / path.name, ds)
            bare_wall = min(bare_wall, time.perf_counter() - wall)
            bare_cpu = min(bare_cpu, time.process_time() - cpu)

            tag = uuid.uuid4().hex[:8]
            study = Study.objects.create(slug=f"bench-{tag}", title="import benchmark")
            site = Site.objects.create(code=f"BENCH-{tag}")
            profiler = cProfile.Profile() if args.profile and attempt == 0 else None
            os.sync()
            wall, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            report = import_dicom_files(paths=paths, study=study, site=site)
            if profiler:
                profiler.disable()
                stream = io.StringIO()
                pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(25)
                profile_text = stream.getvalue()
            else:
                full_wall = min(full_wall, time.perf_counter() - wall)
                full_cpu = min(full_cpu, time.process_time() - cpu)
            if args.database_url:
                Image.objects.filter(study=study).delete()
                study.delete()
                site.delete()

        n = len(paths)
        print(f"files:      {n} ({size / n / 1024:.0f} KiB each, {generator})")
        print(f"database:   {connection.vendor}; best of {args.repeat} runs")
        print(f"outcome:    {report.imported} imported, {report.duplicates} duplicates, "
              f"{report.rejected} rejected")  # fmt: skip
        bare_name = "bare read+decode+write:" if compressed else "bare read+write:"
        print(f"{'':23}    wall s   files/s     CPU s   files/s")
        print(f"{bare_name:23} {bare_wall:9.3f} {n / bare_wall:9.1f} {bare_cpu:9.3f} "
              f"{n / bare_cpu:9.1f}")  # fmt: skip
        if full_wall == float("inf"):
            print("import:                 (only profiled: use --repeat 2 or more for timings)")
        else:
            print(f"{'import:':23} {full_wall:9.3f} {n / full_wall:9.1f} {full_cpu:9.3f} "
                  f"{n / full_cpu:9.1f}")  # fmt: skip
            print(f"ratio import / bare: wall {full_wall / bare_wall:.2f}, "
                  f"CPU {full_cpu / bare_cpu:.2f} (goal <= 3)")  # fmt: skip
            print(f"files/s per core (CPU): {n / full_cpu:.0f} (goal >= 100)")
        if args.profile:
            print(profile_text)
        return 0 if report.rejected == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
