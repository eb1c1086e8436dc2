"""Face_Comparison's REST API: 1:1 compare, the comparison log, the reference gallery (1:N).

Thin edges: validate with a serializer, call one service, answer. Operators compare, enroll,
search and delete; viewers read the log and the gallery list.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.faces import models, selectors, services
from modules.faces.serializers import (
    CompareInputSerializer,
    CompareResultSerializer,
    ComparisonSerializer,
    EnrollInputSerializer,
    EnrollResultSerializer,
    ReferenceSerializer,
    SearchInputSerializer,
    SearchResultSerializer,
    SubjectInputSerializer,
    SubjectSerializer,
)
from modules.faces.uploads import keep_uploads_in_memory
from portal.errors import NotFound
from portal.roles import IsOperator, IsViewer
from portal.schema import error_response


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    described = {
        400: "`invalid_image` (not an image, truncated, unsupported type), `validation_error`, "
        "or `consent_required` (enroll: no subject with consent, no legal basis, or explicit "
        "consent without its text)",
        403: "`permission_denied`: only operators may do this",
        404: "`not_found`",
        413: "`image_too_large` (byte or pixel limit, decompression bombs included) or "
        "`payload_too_large` (the whole request)",
        422: "`no_face`, `several_faces` or `low_quality` (no face passes `quality_filter`; "
        "`details.check` names the failed check); `details.which` names the image",
    }
    return {code: error_response(described[code]) for code in codes}


class PhotoUploadMixin:
    """Multipart in, photos kept in memory only (see modules.faces.uploads)."""

    parser_classes = [MultiPartParser, FormParser]

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        if request.method == "POST":
            keep_uploads_in_memory(request)
        return super().initialize_request(request, *args, **kwargs)  # type: ignore[misc]


class RootView(APIView):
    """Face Comparison API root: links to its endpoints."""

    permission_classes = [IsViewer]

    @extend_schema(responses=inline_serializer("FacesRoot", {"endpoints": serializers.DictField()}))
    def get(self, request: Request) -> Response:
        names = ("compare", "comparisons", "subjects", "references", "search")
        return Response(
            {
                "endpoints": {
                    name: request.build_absolute_uri(reverse(f"faces_api:{name}")) for name in names
                }
            }
        )


class CompareView(PhotoUploadMixin, APIView):
    """Are the two photos the same person? Logged with metadata only; photos are not stored
    unless FACES_STORE_IMAGES is on."""

    permission_classes = [IsOperator]

    @extend_schema(
        operation_id="faces_compare",
        request={"multipart/form-data": CompareInputSerializer},
        responses={200: CompareResultSerializer, **_errors(400, 403, 413, 422)},
    )
    def post(self, request: Request) -> Response:
        form = CompareInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        result, log = services.faces_compare(
            image_a=data["image_a"],
            image_b=data["image_b"],
            threshold=data.get("threshold"),
            pick=data["pick"],
            quality_filter=data["quality_filter"],
            user=request.user,
            source=models.Comparison.Source.API,
        )
        return Response({"id": log.pk, **result.to_dict()})


class ComparisonListView(generics.ListAPIView):
    """The comparison log, newest first: who, when, verdict, distance. Filter with
    ?verdict=match|no_match|error."""

    permission_classes = [IsViewer]
    serializer_class = ComparisonSerializer

    def get_queryset(self) -> Any:
        return selectors.comparisons(verdict=self.request.query_params.get("verdict"))

    @extend_schema(
        parameters=[
            OpenApiParameter("verdict", str, enum=list(models.Comparison.Verdict.values)),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ComparisonDetailView(generics.RetrieveAPIView):
    permission_classes = [IsViewer]
    serializer_class = ComparisonSerializer
    queryset = selectors.comparisons()


class ComparisonPhotoView(APIView):
    """A stored photo of a comparison (only while FACES_STORE_IMAGES keeps them), for
    operators."""

    permission_classes = [IsOperator]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int, which: str) -> FileResponse:
        log = get_object_or_404(models.Comparison, pk=pk)
        field = {"a": log.image_a, "b": log.image_b}.get(which)
        if not field:
            raise NotFound("No stored photo.")
        return _private_file(field)


class SubjectListView(generics.ListCreateAPIView):
    """People in the gallery, each with the consent recorded for them. POST records a subject
    and its consent (legal basis, consent text); their faces are enrolled afterwards."""

    serializer_class = SubjectSerializer
    queryset = selectors.subjects()

    @extend_schema(
        operation_id="faces_subjects_create",
        request=SubjectInputSerializer,
        responses={201: SubjectSerializer, **_errors(400, 403)},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = SubjectInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        from modules.faces.gallery import services as gallery  # cryptography: on first use

        subject = gallery.subject_create(
            name=data["name"],
            external_ref=data["external_ref"],
            legal_basis=data.get("legal_basis", ""),
            consent_text=data["consent_text"],
            user=request.user,
        )
        return Response(SubjectSerializer(subject).data, status=status.HTTP_201_CREATED)


class SubjectDetailView(generics.RetrieveDestroyAPIView):
    """One subject. DELETE erases them: their key first (no key left in the database opens
    their descriptors; a backup taken before still holds both until it ages out), then their
    references and consent records."""

    serializer_class = SubjectSerializer
    queryset = selectors.subjects()

    def perform_destroy(self, instance: models.Subject) -> None:
        from modules.faces.gallery import services as gallery

        gallery.subject_erase(subject=instance, user=self.request.user)


class ReferenceListView(PhotoUploadMixin, generics.ListCreateAPIView):
    """The reference gallery. POST enrolls a face from a photo with one face, for a subject
    whose consent is on record or a new one with its consent (else 400 `consent_required`;
    `subject` together with a new subject's fields, or a synthetic subject: 400
    `validation_error`);
    only its descriptor, encrypted with the subject's key, is kept (and a thumbnail if
    FACES_STORE_IMAGES is on), until FACES_REFERENCE_RETENTION_DAYS."""

    serializer_class = ReferenceSerializer
    queryset = selectors.references()

    @extend_schema(
        operation_id="faces_references_enroll",
        request={"multipart/form-data": EnrollInputSerializer},
        responses={201: EnrollResultSerializer, **_errors(400, 403, 413, 422)},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = EnrollInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        from modules.faces.gallery import services as gallery

        enrollment = gallery.reference_enroll(**data, user=request.user)
        body = ReferenceSerializer(enrollment.reference).data
        body["face"] = enrollment.face.to_dict()
        body["warnings"] = [warning.to_dict() for warning in enrollment.warnings]
        return Response(body, status=status.HTTP_201_CREATED)


class ReferenceDetailView(generics.RetrieveDestroyAPIView):
    """One reference. DELETE removes it with its descriptor and thumbnail."""

    serializer_class = ReferenceSerializer
    queryset = selectors.references()

    def perform_destroy(self, instance: models.Reference) -> None:
        from modules.faces.gallery import services as gallery

        gallery.reference_delete(reference=instance)


class ReferenceThumbnailView(APIView):
    permission_classes = [IsViewer]

    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> FileResponse:
        reference = get_object_or_404(models.Reference, pk=pk)
        if not reference.thumbnail:
            raise NotFound("No thumbnail stored.")
        return _private_file(reference.thumbnail, content_type="image/jpeg")


class SearchView(PhotoUploadMixin, APIView):
    """1:N: the k references closest to the largest face of the photo, nearest first. Every
    search and the references it returned are written to the audit log."""

    permission_classes = [IsOperator]

    @extend_schema(
        operation_id="faces_search",
        request={"multipart/form-data": SearchInputSerializer},
        responses={200: SearchResultSerializer, **_errors(400, 403, 413, 422)},
    )
    def post(self, request: Request) -> Response:
        form = SearchInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        from modules.faces.gallery import services as gallery

        outcome = gallery.reference_search(
            image=data["image"],
            k=data["k"],
            threshold=data.get("threshold"),
            quality_filter=data["quality_filter"],
            user=request.user,
            source=models.Comparison.Source.API,
        )
        image = outcome.query.to_dict()
        image.pop("faces")
        return Response(
            {
                "threshold": outcome.threshold,
                "k": outcome.k,
                "gallery_size": outcome.gallery_size,
                "face": outcome.face.to_dict(),
                "faces": outcome.audit.faces,
                "image": image,
                "warnings": [warning.to_dict() for warning in outcome.warnings],
                "results": [
                    {
                        "reference": ReferenceSerializer(item.reference).data,
                        "distance": round(item.hit.distance, 4),
                        "similarity": round(item.hit.similarity, 1),
                        "match": item.hit.match,
                    }
                    for item in outcome.hits
                ],
                "audit": outcome.audit.pk,
            }
        )


def _private_file(field: Any, content_type: str | None = None) -> FileResponse:
    response = FileResponse(field.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    return response
