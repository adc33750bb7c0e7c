"""The study report: the human-vs-machine comparison as a web page, figures and PDF.

A report is identified by the SHA-256 of its inputs (the long table of reads, predictions and
truth; the study design; the settings ``seed``, ``n_bootstrap``, model version and endpoints;
the code version), stored once per study and input hash, and built by the Celery task
:func:`reports.tasks.build_study_report`. Asking again with unchanged inputs returns the same
report; a new read, prediction, label or setting makes a new hash and a new report. Files live
under ``MEDIA_ROOT/reports/<input hash>/``: ``result.json``, ``figures/*.png``, ``report.pdf``
and ``exports/`` (the long table and its dictionary, the iMRMC and MRMCaov files per endpoint,
the XLSX workbook and ``results.json``: the data behind the report's numbers, for R or Excel).
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from functools import lru_cache
from importlib import metadata

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from analysis.compare.comparison import compare
from analysis.table import exports as analysis_exports
from analysis.table.longtable import validate_long_table
from config.celery import QueueUnavailableError, enqueue_on_commit
from config.leases import (
    heartbeat,
    inline_worker_name,
    lease_alive,
    lease_claim,
    lease_take,
    leases_sweep,
)
from inference.models import ModelVersion, Prediction
from readers.models import Read, ReaderProfile, ReadingSession, SessionCase
from reports import example_cases
from reports import figures as fig
from reports.files import EXPORTS_DIR, report_directory, report_figure_path
from reports.models import StudyReport
from reports.pdf import render_pdf
from reports.services.exports import (
    READING_PARTITIONS,
    study_export_long_table,
    study_export_model_versions,
)
from studies import selectors as study_selectors
from studies.models import Image, ImportBatch, Study
from studies.pixels import heatmap_on_image
from studies.storage import media_path

__all__ = [
    "code_version",
    "example_specs",
    "study_report_build",
    "study_report_design",
    "study_report_enqueue",
    "study_report_inputs",
    "study_report_request",
    "study_report_run",
    "study_reports_requeue",
]


logger = logging.getLogger(__name__)
EXAMPLES_PER_ROW = 4  # example cases the model got right, and as many it got wrong


@lru_cache(maxsize=1)
def code_version() -> str:
    """``git describe --always --dirty`` of the source tree when it is a git checkout, else the
    installed package version (``readerbench <version>``)."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"], cwd=settings.BASE_DIR,
            capture_output=True, text=True, timeout=10, check=True,
        )
        if out.stdout.strip():
            return f"git {out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"readerbench {metadata.version('readerbench')}"
    except metadata.PackageNotFoundError:
        return "readerbench (unknown version)"


def _card_summary(card: dict) -> str:
    keys = ("task", "training_data", "trained_on", "preprocessing", "metrics", "notes")
    parts = [f"{k}: {card[k]}" for k in keys if card.get(k) not in (None, "", {}, [])]
    return "; ".join(parts)[:500]


def study_report_design(*, study: Study, model_versions: list[ModelVersion]) -> dict:
    """The design summary the report shows: sites, cases per partition and class, readers,
    sessions and conditions, washout, model versions and cards, and the STARD-style flow of
    cases (imported, duplicates, rejected at import, excluded from the reading set, unread)."""
    images = Image.objects.filter(study=study)
    sites = (images.values("hip__patient__site__code", "hip__patient__site__name",
                           "hip__patient__site__external")
             .annotate(n=Count("id")).order_by("hip__patient__site__code"))
    sessions = list(ReadingSession.objects.filter(study=study)
                    .select_related("reader", "repeat_of")
                    .annotate(n_cases=Count("items", distinct=True),
                              n_read=Count("items", filter=Q(items__reads__isnull=False),
                                           distinct=True))
                    .order_by("opens_at", "id"))
    profiles = {p.user_id: p for p in ReaderProfile.objects.filter(
        user__in={s.reader_id for s in sessions})}
    readers: dict[str, dict] = {}
    for s in sessions:
        p = profiles.get(s.reader_id)
        entry = readers.setdefault(s.reader.get_username(), {
            "reader": s.reader.get_username(), "seniority": p.seniority if p else None,
            "years_experience": p.years_experience if p else None, "n_sessions": 0})
        entry["n_sessions"] += 1
    batches = ImportBatch.objects.filter(study=study)
    totals = {k: sum(getattr(b, k) for b in batches)
              for k in ("n_imported", "n_duplicates", "n_rejected")}
    reading = images.filter(partition__in=READING_PARTITIONS)
    labelled = reading.filter(reference__isnull=False)
    read_cases = (SessionCase.objects.filter(session__study=study, reads__isnull=False)
                  .values("image").distinct().count())
    in_sessions = SessionCase.objects.filter(session__study=study).values("image").distinct()
    flow = {
        "cases_imported": totals["n_imported"] or images.count(),
        "duplicates_skipped": totals["n_duplicates"],
        "rejected_at_import": totals["n_rejected"],
        "cases_stored": images.count(),
        "excluded_not_in_reading_partitions": images.count() - reading.count(),
        "excluded_without_reference_label": reading.count() - labelled.count(),
        "reading_set": labelled.count(),
        "in_reading_sessions": labelled.filter(pk__in=in_sessions).count(),
        "read_by_at_least_one_reader": read_cases,
        "unread": labelled.exclude(pk__in=SessionCase.objects.filter(
            session__study=study, reads__isnull=False).values("image")).count(),
    }
    rejections: dict[str, int] = {}
    for b in batches:
        for reason, n in (b.rejection_reasons or {}).items():
            rejections[reason] = rejections.get(reason, 0) + (n if isinstance(n, int) else 1)
    return {
        "slug": study.slug, "title": study.title, "synthetic": study.synthetic,
        "labels": study.label_codes, "endpoints": study.endpoints,
        "washout_days": study.washout_days,
        "sites": [{"code": s["hip__patient__site__code"], "name": s["hip__patient__site__name"],
                   "external": s["hip__patient__site__external"], "n_cases": s["n"]}
                  for s in sites],
        "case_counts": study_selectors.study_case_counts(study=study),
        "readers": list(readers.values()),
        "sessions": [{"name": s.name, "reader": s.reader.get_username(),
                      "condition": s.condition, "opens_at": s.opens_at.isoformat(),
                      "repeat_of": s.repeat_of.name if s.repeat_of else None,
                      "n_cases": s.n_cases, "n_read": s.n_read} for s in sessions],
        "models": [{"reader": f"model:{v.short_sha}", "name": v.name, "sha256": v.sha256,
                    "architecture": v.architecture, "input_size": v.input_size,
                    "synthetic": v.synthetic, "card_summary": _card_summary(v.card or {})}
                   for v in model_versions],
        "flow": flow,
        "rejection_reasons": rejections,
    }


def study_report_inputs(*, study: Study, model_version: ModelVersion | None = None,
                        seed: int = 0, n_bootstrap: int = 2000):
    """``(long table DataFrame, design dict, input hash)`` of a report with these settings.

    The hash is the SHA-256 of the long table as CSV (rows sorted, so database order does not
    matter), the design, the settings and :func:`code_version`.
    """
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap: got {n_bootstrap}; expected a count >= 0")
    df = study_export_long_table(study=study, model_version=model_version)
    versions = study_export_model_versions(study=study, model_version=model_version)
    design = study_report_design(study=study, model_versions=versions)
    # STARD: the results that are indeterminate (a reader could not grade the case).
    undecided = (df[df["indeterminate"].eq(True)]
                 if "indeterminate" in df.columns else df.iloc[0:0])
    design["flow"]["indeterminate_reads"] = int(len(undecided))
    design["flow"]["cases_with_an_indeterminate_read"] = int(undecided["case"].nunique())
    design["indeterminate_reasons"] = _indeterminate_reasons(study, undecided)
    keys = [c for c in ("reader", "condition", "session", "case", "version") if c in df.columns]
    canonical = df.sort_values(keys, kind="stable").reset_index(drop=True)
    digest = hashlib.sha256()
    digest.update(canonical.to_csv(index=False).encode())
    digest.update(json.dumps({
        "design": design, "seed": int(seed), "n_bootstrap": int(n_bootstrap),
        "model_version": model_version.sha256 if model_version else None,
        "code_version": code_version(),
    }, sort_keys=True, default=str).encode())
    return df, design, digest.hexdigest()


def _indeterminate_reasons(study: Study, undecided) -> dict[str, int]:
    """The reasons readers gave for the indeterminate reads of the long table (their final
    versions), most frequent first."""
    if undecided.empty:
        return {}
    final = {}
    cases = {int(c) for c in undecided["case"].unique()}
    for read in (Read.objects.filter(item__session__study=study, item__image_id__in=cases)
                 .only("item_id", "stage", "version", "indeterminate", "comment")
                 .order_by("item_id", "stage", "version")):
        final[(read.item_id, read.stage)] = read  # the last version wins
    reasons: dict[str, int] = {}
    for read in final.values():
        if read.indeterminate:
            why = (read.comment or "").strip() or "no reason given"
            reasons[why] = reasons.get(why, 0) + 1
    return dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))


def study_report_request(*, study: Study, model_version: ModelVersion | None = None,
                         seed: int = 0, n_bootstrap: int = 2000, user=None) -> StudyReport:
    """The report of the current inputs: the cached one when it exists (a failed one is queued
    again), else a new one queued for :func:`reports.tasks.build_study_report` after commit.

    Raises :class:`config.celery.QueueUnavailableError` when the broker refuses the build
    (Redis is down): the report is then failed with that message and marked ``requeue``, so
    every worker's sweep (:func:`study_reports_requeue`) queues it once the broker answers, and
    a later request queues it too. Views answer 503."""
    df, design, digest = study_report_inputs(study=study, model_version=model_version,
                                             seed=seed, n_bootstrap=n_bootstrap)
    refused: list[str] = []
    with transaction.atomic():
        report, created = StudyReport.objects.select_for_update().get_or_create(
            study=study, input_hash=digest,
            defaults={"model_version": model_version, "seed": seed, "n_bootstrap": n_bootstrap,
                      "code_version": code_version(), "design": design, "created_by": user,
                      "inputs": _inputs_record(df, seed, n_bootstrap, model_version)})
        # Built again: a failed report, and one marked running whose worker died (its lease
        # expired); a done, queued or live one is returned as it is.
        lost = report.status == StudyReport.Status.RUNNING and not lease_alive(report)
        if not created and report.status != StudyReport.Status.FAILED and not lost:
            return report
        if not created:
            report.status, report.progress, report.error = StudyReport.Status.QUEUED, 0, ""
            report.requeue, report.redeliveries = False, 0
            report.save(update_fields=["status", "progress", "error", "requeue",
                                       "redeliveries"])
        study_report_enqueue(report_id=report.pk, refused=refused)
    if refused:
        report.refresh_from_db()
        raise QueueUnavailableError(refused[0])
    return report


def study_report_enqueue(*, report_id: int, refused: list[str] | None = None) -> None:
    """Queue the build of report ``report_id`` once the transaction commits. A broker that
    refuses it fails the report with a message and marks it ``requeue`` (never a silent loss,
    never a report queued with nothing in the queue); the message is appended to ``refused``."""

    def refuse(exc: Exception) -> None:
        logger.error("report %s could not be queued", report_id, exc_info=exc)
        message = (f"The report could not be queued: the task queue (Redis) is unavailable "
                   f"({type(exc).__name__}: {exc}). It is queued again by itself once the "
                   f"queue is back, or when the report is asked for again.")
        StudyReport.objects.filter(pk=report_id).update(
            status=StudyReport.Status.FAILED, error=message[:2000], requeue=True,
            finished_at=timezone.now())
        if refused is not None:
            refused.append(message)

    enqueue_on_commit("reports.build_study_report", report_id=report_id, on_error=refuse)


def study_reports_requeue(*, study: Study | None = None) -> list[int]:
    """Queue again every report whose build the broker refused (the sweep every worker runs,
    issue 15 R2); the ids queued. Each is claimed by a conditional update first, so two
    sweepers never queue one report twice; a broker still down marks it again."""
    reports = StudyReport.objects.filter(requeue=True, status=StudyReport.Status.FAILED)
    if study is not None:
        reports = reports.filter(study=study)
    queued = []
    for pk in reports.values_list("pk", flat=True):
        claimed = StudyReport.objects.filter(pk=pk, requeue=True,
                                             status=StudyReport.Status.FAILED).update(
            requeue=False, status=StudyReport.Status.QUEUED, progress=0, error="",
            finished_at=None)
        if claimed:
            refused: list[str] = []
            study_report_enqueue(report_id=pk, refused=refused)
            if not refused:
                queued.append(pk)
    return queued


def study_reports_sweep(*, study: Study | None = None, restarted_worker: str = "") -> list[int]:
    """Queue again every report whose build lost its worker (``kill -9`` of a solo worker
    leaves the message unacknowledged for hours), or fail it after
    ``READERBENCH_JOB_MAX_REDELIVERIES`` (:func:`config.leases.leases_sweep`: no heartbeat for
    a whole lease, or last built by a ``restarted_worker`` of this very name); the ids."""
    reports = StudyReport.objects.only("pk", "status", "worker", "heartbeat_at", "started_at",
                                       "redeliveries")
    if study is not None:
        reports = reports.filter(study=study)
    return leases_sweep(reports, restarted_worker=restarted_worker, what="study report",
                        requeue=lambda pk: study_report_enqueue(report_id=pk),
                        retry_hint="ask for the report again to rebuild it")


def study_report_build(*, study: Study, model_version: ModelVersion | None = None,
                       seed: int = 0, n_bootstrap: int = 2000, user=None) -> StudyReport:
    """Build the report now (in this process) unless one with the same inputs is done; return
    it. The web page queues instead (:func:`study_report_request`)."""
    df, design, digest = study_report_inputs(study=study, model_version=model_version,
                                             seed=seed, n_bootstrap=n_bootstrap)
    report, _ = StudyReport.objects.get_or_create(
        study=study, input_hash=digest,
        defaults={"model_version": model_version, "seed": seed, "n_bootstrap": n_bootstrap,
                  "code_version": code_version(), "design": design, "created_by": user,
                  "inputs": _inputs_record(df, seed, n_bootstrap, model_version)})
    if report.status == StudyReport.Status.DONE:
        return report
    worker = inline_worker_name()
    with transaction.atomic():
        locked = StudyReport.objects.select_for_update().get(pk=report.pk)
        if locked.status == StudyReport.Status.DONE:
            return locked
        lease_take(locked, worker=worker)
    report.refresh_from_db()
    with heartbeat(StudyReport, pk=report.pk, worker=worker):
        return _build(report, df)


def study_report_run(*, report_id: int, worker: str = "") -> StudyReport | None:
    """The task body: build report ``report_id`` unless it is gone, done, failed (a message
    left over after the sweep failed it; it is built again only when asked for again) or
    running on another live worker. Fails the report when its inputs changed since it was
    asked for (a new request makes a new one).

    ``worker`` (the Celery worker's name) takes the report's lease, renewed while it builds
    (:mod:`config.leases`), so :func:`study_reports_sweep` finds a build whose worker died."""
    worker = worker or inline_worker_name()
    with transaction.atomic():
        report, claimed = lease_claim(
            StudyReport, pk=report_id, worker=worker, what="study report",
            finished=lambda r: r.status in (StudyReport.Status.DONE, StudyReport.Status.FAILED))
    if not claimed:
        return report
    with heartbeat(StudyReport, pk=report.pk, worker=report.worker):
        report = StudyReport.objects.select_related("study", "model_version").get(pk=report.pk)
        df, _, digest = study_report_inputs(
            study=report.study, model_version=report.model_version, seed=report.seed,
            n_bootstrap=report.n_bootstrap)
        if digest != report.input_hash:
            _fail(report, "The study's reads, predictions or settings changed after this "
                          "report was requested; request the report again.")
            return report
        return _build(report, df)


def _inputs_record(df, seed, n_bootstrap, model_version) -> dict:
    return {
        "n_rows": int(len(df)),
        "n_human_rows": int((df["reader_kind"] == "human").sum()),
        "n_model_rows": int((df["reader_kind"] == "model").sum()),
        "n_cases": int(df["case"].nunique()),
        "seed": int(seed), "n_bootstrap": int(n_bootstrap),
        "model_version": model_version.sha256 if model_version else "all with predictions",
        "code_version": code_version(),
    }


def _progress(report: StudyReport, percent: int, message: str) -> None:
    report.progress, report.progress_message = percent, message[:200]
    report.save(update_fields=["progress", "progress_message"])


def _fail(report: StudyReport, message: str) -> None:
    report.status, report.error, report.finished_at = (StudyReport.Status.FAILED, message,
                                                       timezone.now())
    report.save(update_fields=["status", "error", "finished_at"])


def example_specs(table, comparison: dict, design: dict) -> list[dict]:
    """The example-case figures of a report: per model and site group (internal and external
    when the study has both, else all cases), the cases chosen by
    :func:`reports.example_cases.example_case_choices` (the model right, the model wrong)."""
    names = [g["name"] for g in comparison["site_groups"]]
    groups = [n for n in names if n != "all"] or ["all"]
    specs = []
    for model in (m["reader"] for m in design.get("models", [])):
        if model not in table.model_readers:
            continue
        for group in groups:
            cases = example_cases.example_case_choices(
                table, comparison, model=model,
                site_group=group, n_right=EXAMPLES_PER_ROW, n_wrong=EXAMPLES_PER_ROW)
            if cases:
                specs.append({"name": f"examples-{group}-{len(specs)}", "kind": "examples",
                              "site_group": group, "section": "examples", "model": model,
                              "cases": cases,
                              "title": f"Example cases, {model}, {group} cases"})
    return specs


def _load_npy(name: str) -> np.ndarray | None:
    """A stored 2-D array, or ``None`` (logged) when it is missing or unreadable: an example
    panel then says "image unavailable" or "no heat map" instead of failing the report."""
    if not name:
        return None
    try:
        array = np.load(media_path(name), allow_pickle=False)
    except (OSError, ValueError) as exc:
        logger.warning("report example: cannot read %s (%s)", name, exc)
        return None
    return array if array.ndim == 2 else None


def _draw_examples(spec: dict, study: Study, design: dict) -> bytes:
    """The example-case figure of ``spec``: each case's cached array (native geometry) with the
    model's stored heat map over it (the padding of the model's square input removed)."""
    sha = next(m["sha256"] for m in design["models"] if m["reader"] == spec["model"])
    ids = [int(c["case"]) for c in spec["cases"]]
    arrays = dict(Image.objects.filter(study=study, pk__in=ids).values_list("id", "array_file"))
    heat_files = dict(Prediction.objects.filter(model_version__sha256=sha, image_id__in=ids)
                      .values_list("image_id", "heatmap_file"))
    cases = []
    for c in spec["cases"]:
        pk = int(c["case"])
        array = _load_npy(arrays.get(pk) or "")
        heat = _load_npy(heat_files.get(pk) or "") if array is not None else None
        if heat is not None:
            heat = heatmap_on_image(heat, array.shape)
        cases.append(example_cases.ExampleCase(image=array, heat=heat, **c))
    return example_cases.example_cases_figure(cases, title=spec["title"])


def _build(report: StudyReport, df) -> StudyReport:
    report.status, report.error = StudyReport.Status.RUNNING, ""
    report.save(update_fields=["status", "error"])
    try:
        study = report.study
        _progress(report, 5, "validating the long table")
        table = validate_long_table(df, labels=study.label_codes)
        _progress(report, 10, f"comparing ({report.n_bootstrap} bootstrap resamples)")
        result = compare(table, endpoints=study.endpoints or None,
                         n_bootstrap=report.n_bootstrap, seed=report.seed)
        # Through JSON once, so the stored result and the page show the same numbers.
        comparison = json.loads(json.dumps(result.to_dict()))
        directory = report_directory(report)
        (directory / "figures").mkdir(parents=True, exist_ok=True)
        (directory / "result.json").write_text(json.dumps(comparison, indent=1))
        _progress(report, 35, "writing the exports")
        analysis_exports.write_bundle(table, directory / EXPORTS_DIR, comparison=result)
        specs = (fig.report_figure_specs(comparison)
                 + example_specs(table, comparison, report.design))
        rendered = []
        for i, spec in enumerate(specs):
            _progress(report, 40 + int(45 * i / max(len(specs), 1)), f"figure: {spec['title']}")
            png = (_draw_examples(spec, study, report.design) if spec["kind"] == "examples"
                   else fig.draw_report_figure(spec, table, comparison))
            report_figure_path(report, spec["name"]).write_bytes(png)
            rendered.append((spec["title"], png))
        _progress(report, 88, "writing the PDF")
        design = {**report.design, "code_version": report.code_version,
                  "input_hash": report.input_hash}
        pdf = directory / "report.pdf"
        pdf.write_bytes(render_pdf(comparison, design, rendered))
    except Exception as exc:  # the page shows the error; the worker log has the traceback
        _fail(report, f"{type(exc).__name__}: {exc}")
        raise
    report.result, report.figures = comparison, specs
    report.pdf_path = str(pdf.relative_to(settings.MEDIA_ROOT))
    report.status, report.progress, report.progress_message = (StudyReport.Status.DONE, 100,
                                                               "done")
    report.finished_at = timezone.now()
    report.save(update_fields=["result", "figures", "pdf_path", "status", "progress",
                               "progress_message", "finished_at"])
    return report
