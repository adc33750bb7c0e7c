"""The researcher's inference pages: a study's model versions (with cards), starting a job, and
a job's progress, timings and errors. Researchers and admins of the study only; anyone else
gets a 404 (selectors.study_for_researcher)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from inference import selectors
from inference.forms import InferenceJobForm


def _services():
    """The inference services, imported on first use: they import torch (through the model
    card), which a web worker should not load before a researcher asks for it (issue 15 R5:
    the URL configuration imported torch, and a new worker took seconds to answer)."""
    from inference import services

    return services


@login_required
@require_GET
def study_models(request: HttpRequest, slug: str) -> HttpResponse:
    study = selectors.study_for_researcher(user=request.user, slug=slug)
    versions = selectors.model_versions_for_study(study=study)
    form = InferenceJobForm(model_versions=versions)
    return render(request, "inference/study.html", {
        "study": study,
        "versions": versions,
        "form": form,
        "jobs": selectors.inference_jobs_for_study(study=study)[:50],
    })


@login_required
@require_http_methods(["POST"])
def job_create(request: HttpRequest, slug: str) -> HttpResponse:
    study = selectors.study_for_researcher(user=request.user, slug=slug)
    versions = selectors.model_versions_for_study(study=study)
    form = InferenceJobForm(request.POST, model_versions=versions)
    if form.is_valid():
        try:
            job = _services().inference_job_create(
                study=study,
                model_version=form.cleaned_data["model_version"],
                partitions=form.cleaned_data["partitions"],
                heatmaps=form.cleaned_data["heatmaps"],
                user=request.user,
            )
        except _services().InferenceError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("inference:job", slug=study.slug, pk=job.pk)
    return render(request, "inference/study.html", {
        "study": study,
        "versions": versions,
        "form": form,
        "jobs": selectors.inference_jobs_for_study(study=study)[:50],
    }, status=400)


@login_required
@require_GET
def job_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    study = selectors.study_for_researcher(user=request.user, slug=slug)
    # Reading the page is one of the times a job whose worker died is found (issue 15 R1).
    _services().inference_jobs_sweep(study=study)
    job = selectors.inference_job_get(study=study, pk=pk)
    timings = [(k, float((job.timings or {}).get(k, 0.0))) for k in _services().TIMING_KEYS]
    return render(request, "inference/job.html", {
        "study": study, "job": job, "timings": timings,
        "can_retry": not _services().lease_alive(job),
    })


@login_required
@require_POST
def job_retry(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Queue any job that is not running again (failed, done, queued, or running on a worker
    that died); only its missing cases are run."""
    study = selectors.study_for_researcher(user=request.user, slug=slug)
    job = selectors.inference_job_get(study=study, pk=pk)
    try:
        _services().inference_job_retry(job=job)
    except _services().InferenceError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, f"Job #{job.pk} queued again; only missing cases are run.")
    return redirect("inference:job", slug=study.slug, pk=job.pk)
