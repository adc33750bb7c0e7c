"""Pages of a study's sites and of uploads from the browser (namespace ``uploads``).

Study admins see and upload for every site of the study; a site coordinator only for their
site. Anyone else, and anything outside that, gets a 404 (:func:`uploads.upload_access`). The
chunk protocol is in :mod:`studies.services.uploads`; the browser side in
``static/studies/upload.js``.
"""

from __future__ import annotations

import csv
import json

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studies.models import Site, Study, Upload
from studies.services import uploads
from studies.services.uploads import UploadError


class JoinSiteForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.none(), label="Existing site")

    def __init__(self, *args, study: Study, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = Site.objects.exclude(study_sites__study=study)


class NewSiteForm(forms.ModelForm):
    class Meta:
        model = Site
        fields = ["code", "name", "external"]


class CoordinatorForm(forms.Form):
    username = forms.CharField(max_length=150)
    full_name = forms.CharField(max_length=300, required=False)
    email = forms.EmailField(required=False)
    site = forms.ModelChoiceField(queryset=Site.objects.none())

    def __init__(self, *args, study: Study, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = Site.objects.filter(study_sites__study=study)


def _error(exc: UploadError) -> JsonResponse:
    body = {"error": str(exc)}
    if exc.expected is not None:
        body["expected"] = exc.expected
    return JsonResponse(body, status=exc.status)


def _own_upload(request: HttpRequest, slug: str, upload_id: int) -> Upload:
    # Only the person who started an upload sends its files or finishes it.
    access = uploads.upload_access(user=request.user, slug=slug)
    upload = uploads.upload_get(access=access, upload_id=upload_id)
    if upload.created_by_id != request.user.pk:
        raise Http404("No such upload.")
    return upload


def _urls(upload: Upload) -> dict[str, str]:
    args = [upload.study.slug, upload.pk]
    return {
        "chunk_url": reverse("uploads:chunk", args=args),
        "finish_url": reverse("uploads:finish", args=args),
        "detail_url": reverse("uploads:detail", args=args),
        "status_url": reverse("uploads:status", args=args),
    }


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def sites(request: HttpRequest, slug: str) -> HttpResponse:
    """The study's sites with uploads and cases per site; an admin joins an existing site or
    creates a new one here. A site coordinator sees their site only."""
    access = uploads.upload_access(user=request.user, slug=slug)
    join_form = JoinSiteForm(study=access.study, prefix="join")
    new_form = NewSiteForm(prefix="new")
    coordinator_form = CoordinatorForm(study=access.study, prefix="coord")
    link = ""
    if request.method == "POST":
        if not access.is_admin:
            raise Http404("No such page.")
        if request.POST.get("action") == "coordinator":
            coordinator_form = CoordinatorForm(request.POST, study=access.study, prefix="coord")
            if coordinator_form.is_valid():
                data = coordinator_form.cleaned_data
                try:
                    invitation = uploads.site_coordinator_invite(
                        study=access.study, site=data["site"], username=data["username"],
                        full_name=data["full_name"], email=data["email"])
                except (ValueError, ValidationError) as exc:
                    messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
                    coordinator_form.add_error(None, "; ".join(messages))
                else:
                    # Shown once, here: the coordinator sets their password with it.
                    link = request.build_absolute_uri(invitation.set_password_path) if (
                        invitation.set_password_path) else ""
                    coordinator_form = CoordinatorForm(study=access.study, prefix="coord")
        elif request.POST.get("action") == "join":
            join_form = JoinSiteForm(request.POST, study=access.study, prefix="join")
            if join_form.is_valid():
                uploads.study_site_join(study=access.study, site=join_form.cleaned_data["site"])
                return redirect("uploads:sites", slug=slug)
        else:
            new_form = NewSiteForm(request.POST, prefix="new")
            if new_form.is_valid():
                data = new_form.cleaned_data
                uploads.study_site_create(study=access.study, code=data["code"],
                                          name=data["name"], external=data["external"])
                return redirect("uploads:sites", slug=slug)
    recent = access.uploads().select_related("site", "created_by")
    if not access.is_admin:
        recent = recent.filter(created_by=request.user)
    return render(request, "studies/uploads/sites.html", {
        "study": access.study, "access": access,
        "rows": uploads.study_site_rows(access=access, user=request.user),
        "uploads": recent[:20], "join_form": join_form, "new_form": new_form,
        "coordinator_form": coordinator_form, "set_password_link": link,
        "coordinators": uploads.site_coordinators(access=access) if access.is_admin else [],
    })


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def upload(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    """GET: the upload page of one site. POST (JSON ``{"files": [{path, size}]}``): declare
    an upload; answers its id and the URLs to send chunks to and to finish it."""
    access = uploads.upload_access(user=request.user, slug=slug)
    site = uploads.upload_site(access=access, code=code)
    if request.method == "GET":
        limits = uploads.ImportLimits.from_settings()
        return render(request, "studies/uploads/upload.html", {
            "study": access.study, "site": site, "limits": limits,
            "chunk_bytes": 4 * 1024 * 1024,
            "uploads": access.uploads().filter(site=site).select_related("created_by")[:20],
        })
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"error": "The request is not JSON."}, status=400)
    try:
        new = uploads.upload_create(study=access.study, site=site, user=request.user,
                                    files=body.get("files") if isinstance(body, dict) else None)
    except UploadError as exc:
        return _error(exc)
    return JsonResponse({"id": new.pk, **_urls(new)}, status=201)


@login_required
@require_POST
def chunk(request: HttpRequest, slug: str, upload_id: int) -> JsonResponse:
    """One chunk: the raw bytes as the body; ``file`` (index) and ``offset`` in the query."""
    upload_row = _own_upload(request, slug, upload_id)
    try:
        index, offset = int(request.GET["file"]), int(request.GET["offset"])
    except (KeyError, ValueError):
        return JsonResponse({"error": "file and offset must be whole numbers."}, status=400)
    if offset < 0:
        return JsonResponse({"error": "offset must not be negative."}, status=400)
    # Read the body ourselves: request.body caps at DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB).
    data = request.read(uploads.MAX_CHUNK_BYTES + 1)
    try:
        received = uploads.upload_chunk(upload=upload_row, index=index, offset=offset,
                                        data=data)
    except UploadError as exc:
        return _error(exc)
    return JsonResponse({"file": index, "received": received})


@login_required
@require_POST
def finish(request: HttpRequest, slug: str, upload_id: int) -> HttpResponse:
    """Queue the import once every file arrived (inline without Redis). From the upload's
    page ("Import again" after the queue refused it) it answers with that page."""
    upload_row = _own_upload(request, slug, upload_id)
    try:
        upload_row = uploads.upload_finish(upload=upload_row)
    except UploadError as exc:
        return _error(exc)
    if request.POST.get("from") == "page":
        return redirect("uploads:detail", slug=slug, upload_id=upload_row.pk)
    return JsonResponse({"status": upload_row.status, **_urls(upload_row)}, status=202)


@login_required
@require_GET
@never_cache
def detail(request: HttpRequest, slug: str, upload_id: int) -> HttpResponse:
    """The upload's status and, once imported, its per-file result table."""
    access = uploads.upload_access(user=request.user, slug=slug)
    upload_row = uploads.upload_get(access=access, upload_id=upload_id)
    return render(request, "studies/uploads/detail.html", {
        "study": access.study, "upload": upload_row, "counts": uploads.upload_counts(upload_row),
        "status_url": reverse("uploads:status", args=[slug, upload_row.pk]),
        "can_retry": (upload_row.created_by_id == request.user.pk
                      and uploads.upload_retryable(upload_row)),
    })


@login_required
@require_GET
@never_cache
def status(request: HttpRequest, slug: str, upload_id: int) -> JsonResponse:
    """What the detail page polls: status, bytes and counts (no file names)."""
    access = uploads.upload_access(user=request.user, slug=slug)
    upload_row = uploads.upload_get(access=access, upload_id=upload_id)
    return JsonResponse({
        "status": upload_row.status, "status_display": upload_row.get_status_display(),
        "finished": upload_row.finished, "bytes_received": upload_row.bytes_received,
        "bytes_expected": upload_row.bytes_expected, "counts": uploads.upload_counts(upload_row),
    })


@login_required
@require_GET
@never_cache
def results_csv(request: HttpRequest, slug: str, upload_id: int) -> HttpResponse:
    """The per-file results as CSV; cells that a spreadsheet would run as formulas are
    neutralised (:func:`uploads.csv_cell`)."""
    access = uploads.upload_access(user=request.user, slug=slug)
    upload_row = uploads.upload_get(access=access, upload_id=upload_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{slug}-upload-{upload_row.pk}-results.csv"')
    csv.writer(response).writerows(uploads.upload_result_rows(upload_row))
    return response
