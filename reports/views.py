"""The study report pages: the latest report of a study, a report's numbers, findings and
figures, its PDF, and building one. Researchers and admins of the study only; anyone else gets a
404 (:func:`inference.selectors.study_for_researcher`), anonymous users the login page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from config.celery import QueueUnavailableError
from inference.selectors import study_for_researcher
from reports import files
from reports.models import StudyReport


def _build():
    """The report service and the PDF text, imported on first use: they import the analysis
    (pandas, scipy, statsmodels) and matplotlib, which a web worker should not load before a
    researcher asks for a report (issue 15 R5: a new worker took seconds to answer)."""
    from reports.services import build

    return build


def _pdf():
    from reports import pdf

    return pdf


SECTIONS = (("roc", "ROC curves per endpoint"), ("confusion", "Confusion matrices"),
            ("forest", "Reader - model differences"), ("agreement", "Agreement"),
            ("reading_time", "Reading times"),
            ("examples", "Example cases: the model right and wrong, with its heat map"))


def _report_context(report: StudyReport) -> dict:
    if report.status != StudyReport.Status.DONE:
        return {}
    comparison = report.result
    found = _pdf().findings(comparison)
    groups = []
    for g in comparison["site_groups"]:
        figs = [f for f in report.figures if f["site_group"] == g["name"]]
        groups.append({
            "name": g["name"], "n_cases": g["n_cases"], "n_patients": g["n_patients"],
            "class_counts": g["class_counts"],
            "raters": _pdf().rater_rows(comparison, g),
            "paired": _pdf().paired_rows(g),
            "mrmc": _pdf().mrmc_rows(g) if g["mrmc"] else None,
            "agreement": _pdf().agreement_lines(g),
            "findings": found[g["name"]],
            "notes": g.get("notes", []),
            "figures": [(title, [f for f in figs if f["section"] == key])
                        for key, title in SECTIONS],
        })
    return {"groups": groups, "methods": comparison["methods"],
            "exports": files.report_exports(report),
            "exclusions": comparison.get("exclusions", []),
            "design_lines": _pdf().design_lines({**report.design,
                                                     "code_version": report.code_version,
                                                     "input_hash": report.input_hash})}


def _page(request: HttpRequest, study, report: StudyReport | None) -> HttpResponse:
    return render(request, "reports/report.html", {
        "study": study, "report": report,
        "reports": StudyReport.objects.filter(study=study).only(
            "pk", "status", "created_at", "input_hash", "code_version")[:20],
        **({} if report is None else _report_context(report)),
    })


@login_required
@require_GET
def study_report(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for_researcher(user=request.user, slug=slug)
    return _page(request, study, StudyReport.objects.filter(study=study).first())


@login_required
@require_GET
def report_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    study = study_for_researcher(user=request.user, slug=slug)
    return _page(request, study, get_object_or_404(StudyReport, study=study, pk=pk))


@login_required
@require_POST
def study_report_create(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for_researcher(user=request.user, slug=slug)
    try:
        report = _build().study_report_request(study=study, user=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("reports:study", slug=study.slug)
    except QueueUnavailableError as exc:
        # The report is saved, failed with this message, and queued again by itself later.
        messages.error(request, str(exc))
        return redirect("reports:study", slug=study.slug)
    return redirect("reports:detail", slug=study.slug, pk=report.pk)


@login_required
@require_GET
def report_pdf_view(request: HttpRequest, slug: str, pk: int) -> FileResponse:
    study = study_for_researcher(user=request.user, slug=slug)
    report = get_object_or_404(StudyReport, study=study, pk=pk, status=StudyReport.Status.DONE)
    path = files.report_directory(report) / "report.pdf"
    if not path.is_file():
        raise Http404("The report's PDF is missing")
    return FileResponse(path.open("rb"), content_type="application/pdf", as_attachment=True,
                        filename=f"{study.slug}-report-{report.input_hash[:12]}.pdf")



@login_required
@require_GET
def report_export(request: HttpRequest, slug: str, pk: int, name: str) -> FileResponse:
    """One file of the report's export bundle, as an attachment."""
    study = study_for_researcher(user=request.user, slug=slug)
    report = get_object_or_404(StudyReport, study=study, pk=pk, status=StudyReport.Status.DONE)
    path = files.report_export_path(report, name)
    if path is None:
        raise Http404("No such export")
    return FileResponse(path.open("rb"), as_attachment=True,
                        content_type=files.EXPORT_TYPES[path.suffix],
                        filename=f"{study.slug}-{report.input_hash[:12]}-{name}")


@login_required
@require_GET
def report_figure(request: HttpRequest, slug: str, pk: int, name: str) -> FileResponse:
    study = study_for_researcher(user=request.user, slug=slug)
    report = get_object_or_404(StudyReport, study=study, pk=pk, status=StudyReport.Status.DONE)
    if name not in {f["name"] for f in report.figures}:
        raise Http404("No such figure")
    path = files.report_figure_path(report, name)
    if not path.is_file():
        raise Http404("The figure's file is missing")
    return FileResponse(path.open("rb"), content_type="image/png")
