"""The dlib model files as a Lambda layer, so the function zip stays small.

The two models Face_Comparison uses (5-point landmarks, ResNet descriptor: 30 MiB) change only
with the pinned face_recognition_models release, while the code changes every deploy. They live
in a layer laid out as ``python/face_recognition_models/models/*.dat``: Lambda extracts it under
/opt, /opt/python is on sys.path, and ``modules.faces.engine.dlib_models`` finds the files
without any setting.

    python ops/serverless/models_layer.py build dist/face-models-layer.zip
    python ops/serverless/models_layer.py publish dist/face-models-layer.zip --stage dev \
        [--zappa-settings zappa_settings.json]

Each stage has its own layer, ``portal-face-models-<stage>``, which only that stage's deploy role
may publish to (ops/aws/iam.yaml): the dev job must not be able to put code into production.
``publish`` reuses a version of the stage's layer whose content is the zip (so a deploy publishes
only when the models change): the description names a candidate, but only the ``CodeSha256``
Lambda computed for the version, compared with the zip's, decides. It prints the version ARN and,
with ``--zappa-settings``, writes it into that stage's ``layers``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from modules.faces.engine.dlib_models import MODEL_FILES, find_models_dir  # noqa: E402

LAYER_PREFIX = "python/face_recognition_models/models"
STAGES = ("dev", "production")
RUNTIME = "python3.12"
ARCHITECTURE = "x86_64"


def build(dest: Path, models_dir: Path | None = None) -> Path:
    source = find_models_dir(models_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in MODEL_FILES:
            # A fixed timestamp makes the zip (and so its sha256) depend on the content only.
            info = zipfile.ZipInfo(f"{LAYER_PREFIX}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (source / name).read_bytes())
    return dest


def layer_name(stage: str) -> str:
    if stage not in STAGES:
        raise ValueError(f"no face-model layer for stage {stage!r} ({' or '.join(STAGES)})")
    return f"portal-face-models-{stage}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_sha256(path: Path) -> str:
    """The zip's digest as Lambda reports a layer version's Content.CodeSha256."""
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def publish(zip_path: Path, *, stage: str, client: Any = None) -> str:
    name = layer_name(stage)
    if client is None:
        import boto3

        client = boto3.client("lambda")
    marker = f"dlib models sha256:{sha256(zip_path)}"
    expected = code_sha256(zip_path)
    paginator = client.get_paginator("list_layer_versions")
    for page in paginator.paginate(LayerName=name):
        for version in page.get("LayerVersions", []):
            if version.get("Description") != marker:
                continue
            # The description is whatever the publisher wrote; the content digest is Lambda's.
            found = client.get_layer_version(LayerName=name, VersionNumber=version["Version"])
            if found["Content"]["CodeSha256"] == expected:
                return version["LayerVersionArn"]
    response = client.publish_layer_version(
        LayerName=name,
        Description=marker,
        Content={"ZipFile": zip_path.read_bytes()},
        CompatibleRuntimes=[RUNTIME],
        CompatibleArchitectures=[ARCHITECTURE],
    )
    if response["Content"]["CodeSha256"] != expected:
        raise RuntimeError(f"{response['LayerVersionArn']} does not hold {zip_path}")
    return response["LayerVersionArn"]


def write_layer_arn(settings_file: Path, stage: str, arn: str) -> None:
    settings = json.loads(settings_file.read_text())
    marker = ":layer:portal-face-models"  # the stage's layer, or the shared one it replaced
    layers = [layer for layer in settings[stage].get("layers", []) if marker not in layer]
    settings[stage]["layers"] = [*layers, arn]
    settings_file.write_text(json.dumps(settings, indent=4) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="zip the model files as a layer")
    build_cmd.add_argument("zip", type=Path)
    publish_cmd = commands.add_parser("publish", help="publish the layer (once per content)")
    publish_cmd.add_argument("zip", type=Path)
    publish_cmd.add_argument(
        "--stage", required=True, choices=STAGES, help="whose layer: portal-face-models-<stage>"
    )
    publish_cmd.add_argument(
        "--zappa-settings", type=Path, help="write the version ARN into this stage's layers"
    )
    args = parser.parse_args(argv)
    if args.command == "build":
        path = build(args.zip)
        sys.stdout.write(f"{path} ({path.stat().st_size / 2**20:.1f} MiB)\n")
        return 0
    arn = publish(args.zip, stage=args.stage)
    if args.zappa_settings:
        write_layer_arn(args.zappa_settings, args.stage, arn)
    sys.stdout.write(arn + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
