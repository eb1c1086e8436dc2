"""The OpenAPI schema names what the SOS endpoints reviewed here can answer: the raise's
dry-run preview and its 422s, and a test send's 503 when the channel's budget is busy."""

from __future__ import annotations

from typing import Any

from drf_spectacular.generators import SchemaGenerator


def operation(schema: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return schema["paths"][path][method]


def test_the_schema_documents_the_dry_run_the_422s_and_the_busy_channel(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    raise_ = operation(schema, "/api/sos/alerts/", "post")["responses"]
    assert "422" in raise_
    ok = raise_["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    options = [o["$ref"] for o in schema["components"]["schemas"][ok]["oneOf"]]
    assert "#/components/schemas/SosAlertDryRun" in options
    tested = operation(schema, "/api/sos/contact-methods/{id}/test/", "post")["responses"]
    assert "503" in tested
    progress = schema["components"]["schemas"]["SosAlertProgress"]["properties"]
    assert {"reached", "failed", "percent"} <= set(progress)
