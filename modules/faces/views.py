"""Operator UI of Face_Comparison. Short views: validate (with the API's serializers), call
one service, render. Operators compare, enroll and search; viewers read the log and gallery."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from modules.faces import models, selectors, services
from modules.faces.engine import PICKS, ImageError, ModelsNotFoundError, find_models_dir
from modules.faces.engine.quality import QUALITY_FILTERS
from modules.faces.gallery.constants import RECORDABLE_BASES, SEARCH_MAX_K
from modules.faces.previews import distance_scale, failed_photo, photo_preview
from modules.faces.serializers import (
    CompareInputSerializer,
    EnrollInputSerializer,
    SearchInputSerializer,
)
from modules.faces.uploads import uploads_in_memory
from portal.error_pages import error_page
from portal.errors import PortalError
from portal.roles import is_operator, operator_required, viewer_required

RECENT = 10
LOG_PAGE_SIZE = 50


def card_context(request: HttpRequest) -> dict[str, Any]:
    today = selectors.compared_today()
    recent = selectors.comparisons()[:5]
    try:
        find_models_dir()  # a path lookup: no dlib import
        status = "ok"
    except ModelsNotFoundError:
        status = "down"
    return {
        "status": status,
        "stats": [
            {"label": "Compared today", "value": today["total"]},
            {"label": "Matches today", "value": today["matches"], "tone": "ok"},
            {"label": "Gallery", "value": models.Reference.objects.count()},
        ],
        "rows": [
            {
                "badge": log.get_verdict_display(),
                "tone": log.tone,
                "text": _summary(log),
                "when": log.created_at,
            }
            for log in recent
        ],
        "empty": "No comparison yet."
        if status == "ok"
        else "The dlib model files are missing: see /readyz.",
    }


def _summary(log: models.Comparison) -> str:
    who = log.user.get_username() if log.user else log.get_source_display().lower()
    if log.verdict == models.Comparison.Verdict.ERROR:
        which = f" in {log.error_which.upper()}" if log.error_which else ""
        return f"{log.error_code}{which} · {who}"
    return f"distance {log.distance:.3f} / {log.threshold:g} · {who}"


def _form_data(request: HttpRequest) -> dict[str, Any]:
    # An empty optional input (threshold left blank) means "the default", as in the API.
    fields = {key: value for key, value in request.POST.dict().items() if value.strip()}
    return {**fields, **request.FILES.dict()}


def _index_context(request: HttpRequest) -> dict[str, Any]:
    return {
        "recent": selectors.comparisons()[:RECENT],
        "picks": PICKS,
        "can_act": is_operator(request.user),
        "gallery_size": selectors.live_references().count(),
        "default_threshold": settings.FACES_THRESHOLD,
        "store_images": settings.FACES_STORE_IMAGES,
        "quality_filters": QUALITY_FILTERS,
        "max_image_bytes": settings.FACES_MAX_IMAGE_BYTES,
    }


@viewer_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "faces/index.html", _index_context(request))


@require_POST
@operator_required
@uploads_in_memory
def compare(request: HttpRequest) -> HttpResponse:
    form = CompareInputSerializer(data=_form_data(request))
    context = _index_context(request)
    if not form.is_valid():
        context["form_errors"] = form.errors
        return render(request, "faces/index.html", context, status=400)
    data = form.validated_data
    context.update(
        chosen_pick=data["pick"],
        chosen_threshold=data.get("threshold"),
        chosen_quality_filter=data["quality_filter"],
    )
    try:
        run = services.faces_compare(
            image_a=data["image_a"],
            image_b=data["image_b"],
            threshold=data.get("threshold"),
            pick=data["pick"],
            quality_filter=data["quality_filter"],
            user=request.user,
            source=models.Comparison.Source.WEB,
        )
    except PortalError as exc:
        if isinstance(exc, ImageError):
            photos = {"a": data["image_a"], "b": data["image_b"]}
            context["failed_photo"] = failed_photo(exc, photos, services.face_engine().read)
        return error_page(request, exc, "faces/index.html", context)
    result = run.result
    context.update(
        {
            "result": result,
            "log_entry": run.log,
            "preview_a": photo_preview(
                run.images[0],
                result.faces_a,
                compared=result.pair[0],
                prefix="A",
                rejected=[rejection.face for rejection in result.image_a.rejected],
            ),
            "preview_b": photo_preview(
                run.images[1],
                result.faces_b,
                compared=result.pair[1],
                prefix="B",
                rejected=[rejection.face for rejection in result.image_b.rejected],
            ),
            "scale": distance_scale(result.distance, result.threshold),
        }
    )
    return render(request, "faces/index.html", context)


@viewer_required
def log(request: HttpRequest) -> HttpResponse:
    verdict = request.GET.get("verdict", "")
    queryset = selectors.comparisons(
        verdict=verdict if verdict in models.Comparison.Verdict.values else None
    )
    page = Paginator(queryset, LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "faces/log.html",
        {"page": page, "verdict": verdict, "verdicts": models.Comparison.Verdict.choices},
    )


def _references_context(request: HttpRequest) -> dict[str, Any]:
    return {
        "references": Paginator(
            selectors.live_references().select_related("subject"), LOG_PAGE_SIZE
        ).get_page(request.GET.get("page")),
        "can_act": is_operator(request.user),
        "max_k": SEARCH_MAX_K,
        "store_images": settings.FACES_STORE_IMAGES,
        "retention_days": settings.FACES_REFERENCE_RETENTION_DAYS,
        "legal_bases": [
            (value, label)
            for value, label in models.Consent.LegalBasis.choices
            if value in RECORDABLE_BASES
        ],
        "quality_filters": QUALITY_FILTERS,
    }


@viewer_required
def references(request: HttpRequest) -> HttpResponse:
    return render(request, "faces/references.html", _references_context(request))


@require_POST
@operator_required
@uploads_in_memory
def enroll(request: HttpRequest) -> HttpResponse:
    form = EnrollInputSerializer(data=_form_data(request))
    context = _references_context(request)
    if not form.is_valid():
        context["enroll_errors"] = form.errors
        return render(request, "faces/references.html", context, status=400)
    data = form.validated_data
    from modules.faces.gallery import services as gallery  # cryptography, Pillow: on first use

    try:
        enrollment = gallery.reference_enroll(**data, user=request.user)
    except PortalError as exc:
        return error_page(request, exc, "faces/references.html", {**context, "failed": "enroll"})
    messages.success(request, f"Enrolled {enrollment.reference.name}.")
    for warning in enrollment.warnings:
        messages.warning(request, warning.message)
    return redirect("faces:references")


@require_POST
@operator_required
@uploads_in_memory
def search(request: HttpRequest) -> HttpResponse:
    form = SearchInputSerializer(data=_form_data(request))
    context = _references_context(request)
    if not form.is_valid():
        context["search_errors"] = form.errors
        return render(request, "faces/references.html", context, status=400)
    data = form.validated_data
    from modules.faces.gallery import services as gallery

    try:
        outcome = gallery.reference_search(
            image=data["image"],
            k=data["k"],
            threshold=data.get("threshold"),
            quality_filter=data["quality_filter"],
            user=request.user,
            source=models.Comparison.Source.WEB,
        )
    except PortalError as exc:
        return error_page(request, exc, "faces/references.html", {**context, "failed": "search"})
    context["search"] = outcome
    # The searched photo is shown back from memory (a data: URL), never stored.
    context["search_preview"] = photo_preview(
        outcome.loaded, outcome.query.faces, compared=outcome.face.index, prefix="Q"
    )
    return render(request, "faces/references.html", context)


@require_POST
@operator_required
def delete_reference(request: HttpRequest, pk: int) -> HttpResponse:
    from modules.faces.gallery import services as gallery

    reference = get_object_or_404(models.Reference, pk=pk)
    gallery.reference_delete(reference=reference)
    messages.success(request, f"Deleted {reference.name} and its face descriptor.")
    return redirect("faces:references")


@require_POST
@operator_required
def erase_subject(request: HttpRequest, pk: int) -> HttpResponse:
    from modules.faces.gallery import services as gallery

    subject = get_object_or_404(models.Subject, pk=pk)
    faces = gallery.subject_erase(subject=subject, user=request.user)
    messages.success(
        request, f"Erased {subject.name}: their key, {faces} face(s) and consent records."
    )
    return redirect("faces:references")


@viewer_required
def thumbnail(request: HttpRequest, pk: int) -> FileResponse:
    reference = get_object_or_404(models.Reference, pk=pk)
    if not reference.thumbnail:
        raise Http404("No thumbnail stored")
    response = FileResponse(reference.thumbnail.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"  # a face: never kept in a cache
    return response
