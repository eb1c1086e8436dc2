"""Input validation and the documented shapes of Face_Comparison's API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from modules.faces import models
from modules.faces.engine import (
    MAX_THRESHOLD,
    PICKS,
    QUALITY_FILTERS,
    CompareOptions,
    QualityFilter,
)
from modules.faces.gallery.constants import RECORDABLE_BASES, SEARCH_MAX_K

THRESHOLD_HELP = (
    "Same person when the distance between the two 128-d descriptors is at most this "
    "(0 < threshold <= 2; default FACES_THRESHOLD, 0.6)."
)
PICK_HELP = (
    "Which pair is compared when a photo shows several faces: `largest` (the largest face of "
    "each photo) or `best` (the closest pair of faces). Every face is returned either way."
)

QUALITY_FILTER_HELP = (
    "Leave out faces below this quality before comparing or searching, as Rekognition's "
    "QualityFilter: `NONE` (keep every face), `LOW`, `MEDIUM`, `HIGH`, or `AUTO` (the level "
    "Portal recommends: MEDIUM). Checks: size, exposure, sharpness, yaw, roll "
    "(docs/faces-quality.md). When every face of a photo is left out: 422 `low_quality`."
)


def _photo(help_text: str) -> serializers.FileField:
    # A plain FileField: the engine recognises the type from the content and answers
    # invalid_image / image_too_large itself, consistently for the API, the UI and the CLI.
    return serializers.FileField(allow_empty_file=True, use_url=False, help_text=help_text)


class ThresholdField(serializers.FloatField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            required=False,
            min_value=0.0,
            max_value=MAX_THRESHOLD,
            help_text=THRESHOLD_HELP,
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        try:
            CompareOptions(threshold=value)  # the engine's one rule
        except ValueError:
            raise serializers.ValidationError("Ensure this value is greater than 0.") from None
        return value


class QualityFilterField(serializers.ChoiceField):
    """``quality_filter``: a QualityFilter level, in any case; ``default`` when absent."""

    def __init__(self, *, default: QualityFilter = QualityFilter.NONE, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", QUALITY_FILTER_HELP)
        super().__init__(choices=QUALITY_FILTERS, default=default, **kwargs)

    def to_internal_value(self, data: Any) -> QualityFilter:
        try:
            return QualityFilter.parse(data)  # the engine's one rule
        except ValueError:
            self.fail("invalid_choice", input=data)
        raise AssertionError("unreachable")

    def to_representation(self, value: Any) -> str:
        return QualityFilter.parse(value).value


# -- inputs -----------------------------------------------------------------------------------


class CompareInputSerializer(serializers.Serializer):
    image_a = _photo("The first photo (JPEG, PNG, WEBP, GIF or BMP).")
    image_b = _photo("The second photo.")
    threshold = ThresholdField()
    pick = serializers.ChoiceField(choices=PICKS, default="largest", help_text=PICK_HELP)
    quality_filter = QualityFilterField()


class EnrollInputSerializer(serializers.Serializer):
    """Either ``subject`` (a subject whose consent is on record) or ``name`` with
    ``legal_basis`` (and ``consent_text`` for explicit consent): no consent, 400
    ``consent_required``."""

    image = _photo("A photo showing exactly one face.")
    subject = serializers.PrimaryKeyRelatedField(
        queryset=models.Subject.objects.all(),
        required=False,
        help_text="An existing subject (with its consent on record) to add this face to.",
    )
    name = serializers.CharField(
        max_length=120, required=False, help_text="Who the photo shows (a new subject)."
    )
    external_ref = serializers.CharField(
        max_length=200, required=False, default="", help_text="Your reference for the person."
    )
    legal_basis = serializers.ChoiceField(
        choices=RECORDABLE_BASES,
        required=False,
        help_text="Why this face may be processed (GDPR art. 9(2)); `explicit_consent` needs "
        "`consent_text`.",
    )
    consent_text = serializers.CharField(
        required=False, default="", allow_blank=True, help_text="The consent the person gave."
    )
    quality_filter = QualityFilterField(default=QualityFilter.AUTO)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if "subject" not in data and not data.get("name", "").strip():
            raise serializers.ValidationError({"name": ["Give a name or an existing subject."]})
        return data


class SubjectInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    external_ref = serializers.CharField(max_length=200, required=False, default="")
    legal_basis = serializers.ChoiceField(choices=RECORDABLE_BASES, required=False)
    consent_text = serializers.CharField(required=False, default="", allow_blank=True)


class SearchInputSerializer(serializers.Serializer):
    image = _photo("A photo; its largest face is searched for.")
    k = serializers.IntegerField(
        min_value=1, max_value=SEARCH_MAX_K, default=5, help_text="How many references to return."
    )
    threshold = ThresholdField()
    quality_filter = QualityFilterField()


# -- outputs ----------------------------------------------------------------------------------


class BoxSerializer(serializers.Serializer):
    left = serializers.IntegerField()
    top = serializers.IntegerField()
    right = serializers.IntegerField(help_text="Exclusive, in original-image pixels.")
    bottom = serializers.IntegerField(help_text="Exclusive, in original-image pixels.")
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class QualitySerializer(serializers.Serializer):
    too_small = serializers.BooleanField()
    blur = serializers.FloatField(
        help_text="Sharpness: variance of the Laplacian on the aligned 150x150 face; lower is "
        "blurrier."
    )
    blurry = serializers.BooleanField()
    partly_outside = serializers.BooleanField()
    size = serializers.IntegerField(help_text="Shorter side of the face box, in pixels.")
    brightness = serializers.FloatField(
        help_text="Mean luminance (0-255) of the aligned face; reported only, never filtered "
        "on (it measures skin tone as much as light)."
    )
    contrast = serializers.FloatField(
        help_text="Exposure: p95 - p5 of the aligned face's luminance (0-255); low when "
        "under-exposed or flat."
    )
    overexposed = serializers.FloatField(
        help_text="Exposure: share (0-1) of the aligned face's pixels clipped white."
    )
    yaw = serializers.FloatField(
        help_text="Degrees the head is turned, estimated from the landmarks; + when the nose "
        "points to the image's right."
    )
    roll = serializers.FloatField(
        help_text="Degrees the eye line is tilted; + when it turns clockwise in the image."
    )


class FaceSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="From 0; texts and labels say face index + 1.")
    box = BoxSerializer()
    score = serializers.FloatField(help_text="HOG detector confidence.")
    landmarks = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="5 points (x, y): eye corners and the bottom of the nose.",
    )
    quality = QualitySerializer()


class FilteredFaceSerializer(FaceSerializer):
    failed_check = serializers.ChoiceField(
        choices=["size", "exposure", "sharpness", "yaw", "roll"],
        help_text="The first quality check the face failed.",
    )
    problem = serializers.CharField(help_text='Short words: "Too blurry", "Face too small"...')


class ImageInfoSerializer(serializers.Serializer):
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    format = serializers.CharField(help_text="Detected from the content, not the file name.")
    orientation = serializers.IntegerField(help_text="EXIF orientation applied (1 = none).")


class WarningSerializer(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=[
            "several_faces",
            "face_too_small",
            "face_blurry",
            "face_partly_outside",
            "face_filtered",
        ]
    )
    which = serializers.CharField(required=False)
    face = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()
    check = serializers.CharField(
        required=False, help_text="face_filtered only: the quality check the face failed."
    )


class TimingsSerializer(serializers.Serializer):
    decode = serializers.FloatField()
    detect = serializers.FloatField()
    encode = serializers.FloatField()
    total = serializers.FloatField()


class PairSerializer(serializers.Serializer):
    a = serializers.IntegerField(
        help_text="The compared face's index (Face.index, from 0) in image A: the same number "
        "in faces_a or filtered_faces_a, kept when the quality filter removed other faces. "
        "Texts and labels number faces from 1 (index 0 is face 1, A1)."
    )
    b = serializers.IntegerField(help_text="The compared face's index in image B, as for a.")


class CompareResultSerializer(serializers.Serializer):
    """Documentation of the compare answer (built by the engine's Comparison.to_dict())."""

    id = serializers.IntegerField(help_text="The comparison's log entry.")
    match = serializers.BooleanField()
    distance = serializers.FloatField(help_text="Euclidean distance between the descriptors.")
    similarity = serializers.FloatField(
        help_text="100 * (1 - distance / (2 * threshold)), clamped to 0..100: 100 at distance "
        "0, exactly 50 at the threshold (match <=> similarity >= 50), 0 at twice the threshold."
    )
    threshold = serializers.FloatField()
    model = serializers.CharField()
    pick = serializers.CharField()
    quality_filter = serializers.CharField(help_text="The level that was applied.")
    pair = PairSerializer()
    faces_a = FaceSerializer(many=True, help_text="The faces that passed the quality filter.")
    faces_b = FaceSerializer(many=True)
    filtered_faces_a = FilteredFaceSerializer(
        many=True, help_text="The faces the quality filter left out (empty with NONE)."
    )
    filtered_faces_b = FilteredFaceSerializer(many=True)
    image_a = ImageInfoSerializer()
    image_b = ImageInfoSerializer()
    warnings = WarningSerializer(many=True)
    timings_ms = TimingsSerializer()


class ComparisonSerializer(serializers.ModelSerializer):
    """One entry of the comparison log: metadata only."""

    user = serializers.CharField(source="user.username", default=None, read_only=True)
    has_images = serializers.BooleanField(read_only=True)

    class Meta:
        model = models.Comparison
        fields = [
            "id",
            "created_at",
            "user",
            "source",
            "verdict",
            "error_code",
            "error_which",
            "distance",
            "similarity",
            "threshold",
            "pick",
            "quality_filter",
            "faces_a",
            "faces_b",
            "warnings",
            "timings_ms",
            "has_images",
        ]
        read_only_fields = fields


class ReferenceSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    has_thumbnail = serializers.SerializerMethodField()

    class Meta:
        model = models.Reference
        fields = [
            "id",
            "name",
            "subject",
            "created_by",
            "created_at",
            "expires_at",
            "has_thumbnail",
        ]
        read_only_fields = fields

    def get_has_thumbnail(self, reference: models.Reference) -> bool:
        return bool(reference.thumbnail)


class ConsentSerializer(serializers.ModelSerializer):
    recorded_by = serializers.CharField(source="recorded_by.username", default=None, read_only=True)

    class Meta:
        model = models.Consent
        fields = ["legal_basis", "text", "recorded_by", "recorded_at"]
        read_only_fields = fields


class SubjectSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    consents = ConsentSerializer(many=True, read_only=True)
    references = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = models.Subject
        fields = [
            "id",
            "name",
            "external_ref",
            "synthetic",
            "created_by",
            "created_at",
            "consents",
            "references",
        ]
        read_only_fields = fields


class EnrollResultSerializer(ReferenceSerializer):
    face = FaceSerializer(read_only=True)
    warnings = WarningSerializer(many=True, read_only=True)

    class Meta(ReferenceSerializer.Meta):
        fields = [*ReferenceSerializer.Meta.fields, "face", "warnings"]


class SearchHitSerializer(serializers.Serializer):
    reference = ReferenceSerializer()
    distance = serializers.FloatField()
    similarity = serializers.FloatField()
    match = serializers.BooleanField()


class SearchResultSerializer(serializers.Serializer):
    threshold = serializers.FloatField()
    k = serializers.IntegerField()
    gallery_size = serializers.IntegerField()
    face = FaceSerializer(help_text="The query face searched for (the largest in the photo).")
    faces = serializers.IntegerField(help_text="How many faces the query photo shows.")
    image = ImageInfoSerializer()
    warnings = WarningSerializer(many=True)
    results = SearchHitSerializer(many=True, help_text="Nearest first.")
    audit = serializers.IntegerField(help_text="The audit entry recording this search.")
