"""Static and media files with USE_S3_STORAGE on (django-storages, buckets on moto's server)
and off (the local filesystem). Settings are read at import, so each case runs in a
subprocess with its own environment."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.aws import CREDENTIALS, MotoServer
from tests.deploy.lambda_build import REPO

pytestmark = [pytest.mark.nodb, pytest.mark.slow]

PROBE = textwrap.dedent(
    """
    import json, sys
    import django
    django.setup()
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage, storages
    from django.templatetags.static import static

    name = default_storage.save(sys.argv[1], ContentFile(b"\\xff\\xd8\\xff stored face"))
    print(json.dumps({
        "name": name,
        "exists": default_storage.exists(name),
        "url": default_storage.url(name),
        "static": static("css/portal.css"),
        "storage": type(storages["default"]).__module__ + "." + type(storages["default"]).__name__,
    }))
    """
)


def django_env(**extra: str) -> dict[str, str]:
    base = {
        k: v for k, v in __import__("os").environ.items() if not k.startswith(("AWS_", "DJANGO"))
    }
    base.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="0",
        SECRET_KEY="storage-test-" + uuid.uuid4().hex * 2,
        ALLOWED_HOSTS="portal.example.com",
        LOG_LEVEL="warning",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
    )
    base.update(extra)
    return base


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MotoServer, dict]]:
    moto = MotoServer(tmp_path_factory.mktemp("moto-storage") / "moto.log").start()
    s3 = moto.client("s3")
    for bucket in ("portal-static-test", "portal-media-test"):
        s3.create_bucket(Bucket=bucket)
    env = django_env(
        USE_S3_STORAGE="1",
        AWS_STORAGE_BUCKET_NAME="portal-static-test",
        AWS_MEDIA_BUCKET_NAME="portal-media-test",
        AWS_ENDPOINT_URL=moto.url,
        **CREDENTIALS,
    )
    yield moto, env
    moto.stop()


def test_collectstatic_uploads_to_the_static_bucket(s3_env: tuple[MotoServer, dict]) -> None:
    moto, env = s3_env
    run(["manage.py", "collectstatic", "--noinput", "-v", "0"], env)
    s3 = moto.client("s3")
    keys = {
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="portal-static-test")
        for item in page.get("Contents", [])
    }
    assert "static/css/portal.css" in keys
    assert "static/admin/css/base.css" in keys  # app static files too
    assert any(key.startswith("static/drf_spectacular_sidecar/") for key in keys)
    head = s3.head_object(Bucket="portal-static-test", Key="static/css/portal.css")
    assert head["ContentType"] == "text/css"
    local = (REPO / "static" / "css" / "portal.css").read_bytes()
    body = s3.get_object(Bucket="portal-static-test", Key="static/css/portal.css")["Body"].read()
    assert body == local


def test_a_stored_file_lands_in_the_media_bucket(s3_env: tuple[MotoServer, dict]) -> None:
    moto, env = s3_env
    result = run(["-c", PROBE, "faces/2026/photo.jpg"], env)
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["storage"] == "storages.backends.s3.S3Storage"
    assert probe["exists"]
    key = f"media/{probe['name']}"
    body = moto.client("s3").get_object(Bucket="portal-media-test", Key=key)["Body"].read()
    assert body == b"\xff\xd8\xff stored face"
    # Media is private: its URL is presigned and points at the media bucket.
    assert probe["url"].startswith(f"{moto.url}/portal-media-test/{key}?")
    assert "Signature=" in probe["url"] or "X-Amz-Signature=" in probe["url"]
    # Static files are public and their URLs point at the static bucket, unsigned.
    assert probe["static"] == f"{moto.url}/portal-static-test/static/css/portal.css"


def test_a_stored_file_keeps_an_existing_one(s3_env: tuple[MotoServer, dict]) -> None:
    _, env = s3_env
    first = json.loads(run(["-c", PROBE, "faces/same.jpg"], env).stdout.splitlines()[-1])
    second = json.loads(run(["-c", PROBE, "faces/same.jpg"], env).stdout.splitlines()[-1])
    assert first["name"] == "faces/same.jpg"
    assert second["name"] != first["name"]  # a new name, never an overwrite


def test_static_urls_use_the_cdn_domain_when_set(s3_env: tuple[MotoServer, dict]) -> None:
    _, env = s3_env
    cdn = {**env, "AWS_S3_CUSTOM_DOMAIN": "static.portal.example.com"}
    probe = json.loads(run(["-c", PROBE, "faces/cdn.jpg"], cdn).stdout.splitlines()[-1])
    assert probe["static"] == "https://static.portal.example.com/static/css/portal.css"


def test_without_s3_files_stay_local(tmp_path: Path) -> None:
    static_root, media_root = tmp_path / "static", tmp_path / "media"
    env = django_env(USE_S3_STORAGE="0", STATIC_ROOT=str(static_root), MEDIA_ROOT=str(media_root))
    run(["manage.py", "collectstatic", "--noinput", "-v", "0"], env)
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/portal.css"]
    assert (static_root / hashed).is_file()
    assert (static_root / f"{hashed}.gz").is_file()  # WhiteNoise's compressed copy
    probe = json.loads(run(["-c", PROBE, "faces/local.jpg"], env).stdout.splitlines()[-1])
    assert probe["storage"] == "django.core.files.storage.filesystem.FileSystemStorage"
    assert (media_root / probe["name"]).read_bytes() == b"\xff\xd8\xff stored face"
    assert probe["url"] == f"/media/{probe['name']}"
    assert probe["static"] == f"/static/{hashed}"
