"""The coordinator's setup pages (``/studies/``): the studies a user coordinates, a new study,
the checklist of one study, labels upload (dry run, then apply), the split, inviting readers,
and the cases with thumbnails. Every page is for the study's admins only; anyone else gets a
404 (:func:`studies.services.setup.study_for_coordinator`)."""

from __future__ import annotations

import io

import numpy as np
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studies.forms import (
    DesignateSliceForm,
    LabelsApplyForm,
    LabelsUploadForm,
    ReaderInviteForm,
    SplitForm,
    StudyCreateForm,
)
from studies.models import Image, Slice, Split
from studies.services import relabel, series, setup
from studies.services.manifest import ManifestError
from studies.services.partitions import PartitionError

THUMBNAIL_SIDE = 128
CASES_PER_PAGE = 50


@login_required
@require_GET
@never_cache
def study_list(request: HttpRequest) -> HttpResponse:
    studies = setup.studies_for_coordinator(user=request.user)
    return render(request, "studies/study_list.html", {"studies": studies})


@login_required
@require_http_methods(["GET", "POST"])
def study_new(request: HttpRequest) -> HttpResponse:
    form = StudyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        study = setup.study_create(user=request.user, **form.cleaned_data)
        messages.success(request, f"Study {study.slug} created; you are its coordinator.")
        return redirect("setup:study", slug=study.slug)
    return render(request, "studies/study_new.html", {"form": form})


@login_required
@require_GET
@never_cache
def study_setup(request: HttpRequest, slug: str) -> HttpResponse:
    study = setup.study_for_coordinator(user=request.user, slug=slug)
    steps = setup.study_setup_checklist(study=study)
    return render(request, "studies/setup.html", {"study": study, "steps": steps})


# --- Labels: upload → dry run → apply.


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def labels_upload(request: HttpRequest, slug: str) -> HttpResponse:
    study = setup.study_for_coordinator(user=request.user, slug=slug)
    form = LabelsUploadForm(request.POST or None, request.FILES or None)
    problems = None
    if request.method == "POST" and form.is_valid():
        try:
            upload = relabel.labels_dry_run(
                study=study, data=form.cleaned_data["file"].read(), user=request.user
            )
        except ManifestError as exc:
            problems = exc.problems
        except relabel.RelabelError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("setup:labels-dry-run", slug=study.slug, token=upload.token)
    recent = study.label_uploads.filter(applied_at__isnull=False)[:10]
    return render(request, "studies/labels_upload.html", {
        "study": study, "form": form, "problems": problems, "recent": recent,
        "label_codes": study.label_codes,
    })


def _dry_run_page(request, study, upload, *, apply_form=None, error="", status=200):
    dry = relabel.label_upload_dry_run(upload=upload)
    apply_form = apply_form or LabelsApplyForm(initial={"token": upload.token})
    return render(request, "studies/labels_dry_run.html", {
        "study": study, "dry": dry, "upload": upload, "form": apply_form, "error": error,
    }, status=status)


@login_required
@require_GET
@never_cache
def labels_dry_run(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    study = setup.study_for_coordinator(user=request.user, slug=slug)
    upload = relabel.label_upload_get(study=study, token=token)
    if upload is None:
        raise Http404("No such labels upload")
    return _dry_run_page(request, study, upload)


@login_required
@require_POST
def labels_apply(request: HttpRequest, slug: str) -> HttpResponse:
    study = setup.study_for_coordinator(user=request.user, slug=slug)
    form = LabelsApplyForm(request.POST)
    upload = None
    if form.is_valid():
        upload = relabel.label_upload_get(study=study, token=form.cleaned_data["token"])
    if upload is None:
        raise Http404("No such labels upload")
    if upload.applied_at is not None:  # a second submit of the same form: nothing more to do
        messages.info(request, "This upload was applied already.")
        return redirect("setup:labels", slug=study.slug)
    try:
        changes = relabel.labels_apply(
            upload=upload, user=request.user, relabel_read=form.cleaned_data["relabel_read"]
        )
    except relabel.StaleDryRunError as exc:
        return _dry_run_page(request, study, exc.upload, error=str(exc), status=409)
    except relabel.RelabelError as exc:
        upload.refresh_from_db()
        if upload.applied_at is not None:
            messages.info(request, "This upload was applied already.")
            return redirect("setup:labels", slug=study.slug)
        return _dry_run_page(request, study, upload, apply_form=form, error=str(exc),
                             status=409)
    messages.success(
        request, f"Labels applied: {len(changes)} case(s) changed (batch {upload.token})."
    )
    return redirect("setup:study", slug=study.slug)


# --- The split.


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def study_split(request: HttpRequest, slug: str) -> HttpResponse:
    study = setup.study_for_coordinator(user=request.user, slug=slug)
    form = SplitForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            split = setup.study_split(
                study=study, seed=form.cleaned_data["seed"], fractions=form.fractions(),
                user=request.user,
            )
        except PartitionError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Split made with seed {split.seed}.")
            return redirect("setup:split", slug=study.slug)
    return render(request, "studies/split.html", {
        "study": study, "form": form, "error": error,
        "split": Split.objects.filter(study=study).first(),
        "table": setup.study_split_table(study=study),
    }, status=409 if error else 200)


# --- Readers.


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def study_readers(request: HttpRequest, slug: str) -> HttpResponse:
    study = setup.study_for_coordinator(user=request.user, slug=slug)
    choices = setup.seniority_choices()
    form = ReaderInviteForm(request.POST or None, seniority_choices=choices)
    invitation = None
    if request.method == "POST" and form.is_valid():
        try:
            invitation = setup.reader_invite(study=study, **form.cleaned_data)
        except ValidationError as exc:  # the model's own checks (e.g. a malformed e-mail)
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        except ValueError as exc:
            form.add_error("username", str(exc))
        else:
            form = ReaderInviteForm(seniority_choices=choices)
    link = request.build_absolute_uri(invitation.set_password_path) if (
        invitation and invitation.set_password_path) else ""
    return render(request, "studies/readers.html", {
        "study": study, "form": form, "invitation": invitation, "link": link,
        "readers": setup.study_readers(study=study),
    })


# --- Cases, with thumbnails.


@login_required
@require_GET
@never_cache
def study_cases(request: HttpRequest, slug: str) -> HttpResponse:
    study = setup.study_for_coordinator(user=request.user, slug=slug)
    cases = (
        Image.objects.filter(study=study)
        .select_related("hip__patient__site", "reference")
        .annotate(n_slices=Count("slices"))
        .order_by("id")
    )
    page = Paginator(cases, CASES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "studies/cases.html", {"study": study, "page": page})


def thumbnail_png(image: Image | Slice) -> bytes:
    """The case's graded slice (or one slice of its stack) as an 8-bit PNG of at most 128 px a
    side, in its default window (:func:`studies.pixels.image_pixel_meta`). Cached by content
    hash and frame: stored files never change."""
    from PIL import Image as PILImage

    from studies import pixels

    key = f"rb:thumb:{THUMBNAIL_SIDE}:{image.content_hash}:{getattr(image, 'frame', 0)}"
    data = cache.get(key)
    if data is not None:
        return data
    meta = pixels.image_pixel_meta(image=image)
    values = np.frombuffer(pixels.image_pixels(image=image), dtype="<" + (
        "i2" if meta.dtype == "int16" else "u2"
    )).reshape(meta.rows, meta.columns).astype(np.float32)
    values = values * meta.rescale_slope + meta.rescale_intercept
    low = meta.window_center - meta.window_width / 2
    grey = np.clip((values - low) / max(meta.window_width, 1e-6), 0.0, 1.0) * 255.0
    if meta.invert:
        grey = 255.0 - grey
    picture = PILImage.fromarray(np.rint(grey).astype(np.uint8), mode="L")
    picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), PILImage.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    data = buffer.getvalue()
    cache.set(key, data, timeout=7 * 24 * 3600)
    return data


@login_required
@require_GET
def case_thumbnail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    study = setup.study_for_coordinator(user=request.user, slug=slug)
    image = get_object_or_404(Image, study=study, pk=pk)
    try:
        data = thumbnail_png(image)
    except (OSError, ValueError):  # a stored file missing or unreadable: repair_storage's job
        raise Http404("No thumbnail for this case") from None
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- One case: its stack, and which slice is graded.


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def case_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The case's series as a stack of thumbnails, the graded (designated) slice marked; a POST
    of ``index`` designates another slice, unless the case is already in a reading session or
    predicted (:mod:`studies.services.series`)."""
    study = setup.study_for_coordinator(user=request.user, slug=slug)
    image = get_object_or_404(
        Image.objects.select_related("hip__patient__site", "reference"), study=study, pk=pk
    )
    if request.method == "POST":
        form = DesignateSliceForm(request.POST)
        if form.is_valid():
            try:
                series.designate_slice(image=image, index=form.cleaned_data["index"])
            except series.DesignationError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(
                    request, f"Slice {form.cleaned_data['index'] + 1} is now the graded slice."
                )
            return redirect("setup:case", slug=study.slug, pk=image.pk)
        messages.error(request, "Choose a slice.")
        return redirect("setup:case", slug=study.slug, pk=image.pk)
    return render(request, "studies/case.html", {
        "study": study,
        "case": image,
        "slices": list(image.slices.order_by("index")),
        "frozen": series.case_is_frozen(image),
    })


@login_required
@require_GET
def slice_thumbnail(request: HttpRequest, slug: str, pk: int, index: int) -> HttpResponse:
    study = setup.study_for_coordinator(user=request.user, slug=slug)
    piece = get_object_or_404(Slice, study=study, image_id=pk, index=index)
    try:
        data = thumbnail_png(piece)
    except (OSError, ValueError):
        raise Http404("No thumbnail for this slice") from None
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response
