"""Lambda events as AWS sends them: API Gateway REST (v1), HTTP API / function URL (v2),
EventBridge schedules and Zappa's own async-task invocations."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

REGION = "us-east-1"
ACCOUNT = "123456789012"
REST_API_ID = "a1b2c3d4e5"
REST_HOST = f"{REST_API_ID}.execute-api.{REGION}.amazonaws.com"
FUNCTION_URL_HOST = f"f6g7h8i9j0.lambda-url.{REGION}.on.aws"
CLIENT_IP = "203.0.113.7"
CLOUDFRONT_IP = "130.176.0.1"


def _encode_body(body: bytes | str | None) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    if isinstance(body, str):
        return body, False
    # API Gateway base64-encodes bodies of binary media types (binary_support: "*/*").
    return base64.b64encode(body).decode("ascii"), True


def rest_event(
    method: str,
    path: str,
    *,
    stage: str = "dev",
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    host: str = REST_HOST,
) -> dict[str, Any]:
    """An API Gateway REST API (payload 1.0) proxy event for ANY /{proxy+}."""
    all_headers = {
        "Host": host,
        "User-Agent": "portal-tests",
        "Accept": "*/*",
        "X-Forwarded-For": f"{CLIENT_IP}, {CLOUDFRONT_IP}",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        "X-Amzn-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
        **(headers or {}),
    }
    pairs = parse_qsl(query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for key, value in pairs:
        multi_query.setdefault(key, []).append(value)
    encoded, is_base64 = _encode_body(body)
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {key: [value] for key, value in all_headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc123",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": host.split(".")[0],
            "requestTimeEpoch": int(time.time() * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": CLIENT_IP, "userAgent": "portal-tests"},
            "domainName": host,
            "apiId": REST_API_ID,
        },
        "body": encoded,
        "isBase64Encoded": is_base64,
    }


def http_event(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    cookies: list[str] | None = None,
    host: str = FUNCTION_URL_HOST,
) -> dict[str, Any]:
    """A function URL / HTTP API (payload 2.0) event: lower-case headers, cookies apart."""
    all_headers = {
        "host": host,
        "user-agent": "portal-tests",
        "accept": "*/*",
        "x-forwarded-for": CLIENT_IP,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        "x-amzn-trace-id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
        **{key.lower(): value for key, value in (headers or {}).items()},
    }
    encoded, is_base64 = _encode_body(body)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": host.split(".")[0],
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": CLIENT_IP,
                "userAgent": "portal-tests",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": is_base64,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if cookies:
        event["cookies"] = cookies
    if encoded is not None:
        event["body"] = encoded
    return event


def scheduled_event(rule_name: str) -> dict[str, Any]:
    """What EventBridge sends when a `rate(...)` rule Zappa created fires."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}"],
        "detail": {},
    }


def manage_event(command: str) -> dict[str, Any]:
    """What `zappa manage <stage> "<command>"` invokes the function with."""
    return {"manage": command}


def multipart(fields: Mapping[str, str], files: Mapping[str, tuple[str, bytes, str]]) -> tuple:
    """(content type, body) of a multipart/form-data request."""
    boundary = f"----portal{uuid.uuid4().hex}"
    chunks: list[bytes] = []
    for name, value in fields.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, (filename, content, content_type) in files.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(chunks)


def json_body(data: Any) -> str:
    return json.dumps(data)


def form_body(data: Mapping[str, str]) -> str:
    return urlencode(data)
