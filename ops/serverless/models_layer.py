"""The dlib model files as a Lambda layer, so the function zip stays small.

The two models Face_Comparison uses (5-point landmarks, ResNet descriptor: 30 MiB) change only
with the pinned face_recognition_models release, while the code changes every deploy. They live
in a layer laid out as ``python/face_recognition_models/models/*.dat``: Lambda extracts it under
/opt, /opt/python is on sys.path, and ``modules.faces.engine.dlib_models`` finds the files
without any setting.

    python ops/serverless/models_layer.py build dist/face-models-layer.zip
    python ops/serverless/models_layer.py publish dist/face-models-layer.zip \
        [--name portal-face-models] [--zappa-settings zappa_settings.json --stage dev]

``publish`` reuses the newest layer version whose description carries the zip's sha256 (so a
deploy publishes only when the models change), prints the version ARN and, with
``--zappa-settings``, writes it into that stage's ``layers``.
"""

from __future__ import annotations

import argparse
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
DEFAULT_NAME = "portal-face-models"
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


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def publish(zip_path: Path, *, name: str = DEFAULT_NAME, client: Any = None) -> str:
    if client is None:
        import boto3

        client = boto3.client("lambda")
    marker = f"dlib models sha256:{sha256(zip_path)}"
    paginator = client.get_paginator("list_layer_versions")
    for page in paginator.paginate(LayerName=name):
        for version in page.get("LayerVersions", []):
            if version.get("Description") == marker:
                return version["LayerVersionArn"]
    response = client.publish_layer_version(
        LayerName=name,
        Description=marker,
        Content={"ZipFile": zip_path.read_bytes()},
        CompatibleRuntimes=[RUNTIME],
        CompatibleArchitectures=[ARCHITECTURE],
    )
    return response["LayerVersionArn"]


def write_layer_arn(settings_file: Path, stage: str, arn: str) -> None:
    settings = json.loads(settings_file.read_text())
    marker = f":layer:{DEFAULT_NAME}:"
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
    publish_cmd.add_argument("--name", default=DEFAULT_NAME)
    publish_cmd.add_argument("--zappa-settings", type=Path)
    publish_cmd.add_argument("--stage", action="append", default=[])
    args = parser.parse_args(argv)
    if args.command == "build":
        path = build(args.zip)
        sys.stdout.write(f"{path} ({path.stat().st_size / 2**20:.1f} MiB)\n")
        return 0
    arn = publish(args.zip, name=args.name)
    if args.zappa_settings:
        for stage in args.stage or ["dev"]:
            write_layer_arn(args.zappa_settings, stage, arn)
    sys.stdout.write(arn + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
