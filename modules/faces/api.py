from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class RootView(APIView):
    """Face_Comparison API root: links to its endpoints."""

    @extend_schema(responses=inline_serializer("FacesRoot", {"endpoints": serializers.DictField()}))
    def get(self, request: Request) -> Response:
        return Response({"endpoints": {}})
