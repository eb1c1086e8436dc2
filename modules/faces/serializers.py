"""Input validation and the documented shapes of Face_Comparison's API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from modules.faces import models
from modules.faces.engine import MAX_THRESHOLD, PICKS, CompareOptions
from modules.faces.services import SEARCH_MAX_K

THRESHOLD_HELP = (
    "Same person when the distance between the two 128-d descriptors is at most this "
    "(0 < threshold <= 2; default FACES_THRESHOLD, 0.6)."
)
PICK_HELP = (
    "Which pair is compared when a photo shows several faces: `largest` (the largest face of "
    "each photo) or `best` (the closest pair of faces). Every face is returned either way."
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


# -- inputs -----------------------------------------------------------------------------------


class CompareInputSerializer(serializers.Serializer):
    image_a = _photo("The first photo (JPEG, PNG, WEBP, GIF or BMP).")
    image_b = _photo("The second photo.")
    threshold = ThresholdField()
    pick = serializers.ChoiceField(choices=PICKS, default="largest", help_text=PICK_HELP)


class EnrollInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, help_text="Who the photo shows.")
    image = _photo("A photo showing exactly one face.")


class SearchInputSerializer(serializers.Serializer):
    image = _photo("A photo; its largest face is searched for.")
    k = serializers.IntegerField(
        min_value=1, max_value=SEARCH_MAX_K, default=5, help_text="How many references to return."
    )
    threshold = ThresholdField()


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
    blur = serializers.FloatField(help_text="Variance of the Laplacian; lower is blurrier.")
    blurry = serializers.BooleanField()
    partly_outside = serializers.BooleanField()


class FaceSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    box = BoxSerializer()
    score = serializers.FloatField(help_text="HOG detector confidence.")
    landmarks = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="5 points (x, y): eye corners and the bottom of the nose.",
    )
    quality = QualitySerializer()


class ImageInfoSerializer(serializers.Serializer):
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    format = serializers.CharField(help_text="Detected from the content, not the file name.")
    orientation = serializers.IntegerField(help_text="EXIF orientation applied (1 = none).")


class WarningSerializer(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=["several_faces", "face_too_small", "face_blurry", "face_partly_outside"]
    )
    which = serializers.CharField(required=False)
    face = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()


class TimingsSerializer(serializers.Serializer):
    decode = serializers.FloatField()
    detect = serializers.FloatField()
    encode = serializers.FloatField()
    total = serializers.FloatField()


class PairSerializer(serializers.Serializer):
    a = serializers.IntegerField(help_text="Index in faces_a of the compared face.")
    b = serializers.IntegerField(help_text="Index in faces_b of the compared face.")


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
    pair = PairSerializer()
    faces_a = FaceSerializer(many=True)
    faces_b = FaceSerializer(many=True)
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
        fields = ["id", "name", "created_by", "created_at", "has_thumbnail"]
        read_only_fields = fields

    def get_has_thumbnail(self, reference: models.Reference) -> bool:
        return bool(reference.thumbnail)


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
