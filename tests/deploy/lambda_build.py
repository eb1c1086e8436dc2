"""Build what Zappa ships to Lambda, offline, and cache it between test runs.

The development venv also holds the test tools (Playwright, moto, kubernetes-validate...), and
Zappa packages whatever venv it runs in. So the package is built from a runtime-only venv: the
distributions requirements.txt names and their dependencies, copied file by file from this
interpreter's site-packages (no index, no network). `zappa package` then runs with that venv as
VIRTUAL_ENV and `use_precompiled_packages: false` (the installed wheels already are the manylinux
x86_64 cp312 ones Lambda runs). Outbound HTTP is pointed at a closed local port, so a step that
tried the internet (Zappa's version check does) fails at once instead of waiting. Then, as the
deploy workflow does, ops/serverless/bytecode.py adds the unchecked-hash `.pyc` files: the tests
run the zip users run.

Built packages are cached under var/lambda/, keyed on the requirements, the Zappa settings and
every source file that goes into the package; a lock keeps parallel test workers from building
the same package twice. A cached package is removed only after an hour unused: another worker
may be using one built from other sources or settings at this very moment.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata as metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ops.serverless.bytecode import add_bytecode

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "var" / "lambda"
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
ZAPPA = Path(sys.executable).with_name("zappa")
BYTECODE_STEP = REPO / "ops" / "serverless" / "bytecode.py"
PY_DIR = f"python{sys.version_info.major}.{sys.version_info.minor}"
# Lambda's Python runtime brings these; the package test puts them on the path from outside.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
# What never goes into a package, so it is not part of the cache key either.
SKIP_DIRS = {
    ".git",
    ".venv",
    "var",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "staticfiles",
    "media",
    "tests",
    "bench",
    "ops",
    "docs",
}
CLOSED_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, connections fail fast
STALE_AFTER_S = 3600.0  # a cached package unused this long belongs to no running test session


@dataclass(frozen=True)
class BuiltPackage:
    stage: str
    zip_path: Path
    seconds: float  # build time; 0.0 when it came from the cache

    @property
    def zipped_bytes(self) -> int:
        return self.zip_path.stat().st_size

    @property
    def unzipped_bytes(self) -> int:
        with zipfile.ZipFile(self.zip_path) as archive:
            return sum(info.file_size for info in archive.infolist())


def offline_env(**extra: str) -> dict[str, str]:
    """Environment for Zappa subprocesses: no AWS profile, no route to the internet."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "DJANGO_", "ZAPPA_")) and k not in ("VIRTUAL_ENV",)
    }
    env.update(
        HTTP_PROXY=CLOSED_PROXY,
        HTTPS_PROXY=CLOSED_PROXY,
        http_proxy=CLOSED_PROXY,
        https_proxy=CLOSED_PROXY,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def runtime_requirements() -> list[Requirement]:
    requirements = []
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirements.append(Requirement(line))
    return requirements


def runtime_distributions() -> dict[str, metadata.Distribution]:
    """requirements.txt and everything it needs, as installed here (extras honoured)."""
    found: dict[str, metadata.Distribution] = {}
    extras_seen: dict[str, set[str]] = {}
    pending = [(r, set(r.extras)) for r in runtime_requirements()]
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in extras_seen and extras <= extras_seen[name]:
            continue
        extras_seen.setdefault(name, set()).update(extras)
        distribution = metadata.distribution(requirement.name)
        found[name] = distribution
        for spec in distribution.requires or []:
            dependency = Requirement(spec)
            if dependency.marker is None:
                pending.append((dependency, set(dependency.extras)))
                continue
            contexts = [{"extra": extra} for extra in extras_seen[name]] or [{"extra": ""}]
            if any(dependency.marker.evaluate(context) for context in contexts):
                pending.append((dependency, set(dependency.extras)))
    return found


def make_runtime_venv(dest: Path) -> Path:
    """A venv-shaped folder whose site-packages holds only the runtime distributions."""
    site = dest / "lib" / PY_DIR / "site-packages"
    site.mkdir(parents=True)
    for distribution in runtime_distributions().values():
        for file in distribution.files or []:
            if "__pycache__" in file.parts or file.parts[0] == "..":
                continue  # bytecode and console scripts outside site-packages
            source = Path(distribution.locate_file(file))
            if source.is_file():
                target = site / file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    (dest / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).parent}\n")
    return dest


def source_digest(settings_file: Path) -> str:
    """A hash of everything that changes the package: sources, requirements, settings, Zappa."""
    digest = hashlib.sha256()
    digest.update(metadata.version("zappa").encode())
    digest.update(Path(__file__).read_bytes())
    digest.update(BYTECODE_STEP.read_bytes())
    digest.update(settings_file.read_bytes())
    for path in sorted(_package_sources()):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _package_sources() -> Iterator[Path]:
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".venv")]
        for name in files:
            if not name.endswith((".pyc", ".sqlite3", ".zip")) and "sqlite3" not in name:
                yield Path(root) / name


@contextmanager
def _locked(name: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_package(stage: str, settings_file: Path | None = None) -> BuiltPackage:
    """`zappa package <stage>` from a runtime-only venv, offline; cached by source digest."""
    settings_file = settings_file or REPO / "zappa_settings.json"
    key = source_digest(settings_file)
    zip_path = CACHE / f"portal-{stage}-{key}.zip"
    with _locked(f"package-{stage}"):
        if zip_path.exists():
            os.utime(zip_path)
            return BuiltPackage(stage, zip_path, 0.0)
        _prune(f"portal-{stage}-*.zip")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="portal-runtime-venv-") as tmp:
            venv = make_runtime_venv(Path(tmp) / "venv")
            partial = zip_path.with_suffix(".partial.zip")
            result = subprocess.run(
                [str(ZAPPA), "package", stage, "-s", str(settings_file), "-o", str(partial)],
                cwd=REPO,
                env=offline_env(VIRTUAL_ENV=str(venv)),
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
        if result.returncode != 0 or not partial.exists():
            raise RuntimeError(
                f"zappa package {stage} failed ({result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        add_bytecode(partial)
        partial.rename(zip_path)
        return BuiltPackage(stage, zip_path, time.perf_counter() - started)


def _prune(pattern: str) -> None:
    """Remove cached packages (zips or unpacked trees) that nobody used for STALE_AFTER_S."""
    cutoff = time.time() - STALE_AFTER_S
    for stale in CACHE.glob(pattern):
        try:
            if stale.stat().st_mtime >= cutoff:
                continue
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink()
        except FileNotFoundError:
            pass  # another process pruned it first


def unpack(package: BuiltPackage) -> Path:
    """The package unzipped once next to it (cached like the zip)."""
    target = package.zip_path.with_suffix("")
    with _locked(f"unpack-{package.stage}"):
        if (target / "zappa_settings.py").exists():
            os.utime(target)
        else:
            shutil.rmtree(target, ignore_errors=True)
            _prune(f"portal-{package.stage}-*")
            partial = target.with_name(target.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            with zipfile.ZipFile(package.zip_path) as archive:
                archive.extractall(partial)
            partial.rename(target)
    return target


def runtime_provided_dir(dest: Path) -> Path:
    """A folder with only what Lambda's Python runtime provides (boto3 and its dependencies)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        for candidate in (SITE_PACKAGES / name, SITE_PACKAGES / f"{name}.py"):
            if candidate.exists() and not (dest / candidate.name).exists():
                (dest / candidate.name).symlink_to(candidate)
    return dest


def save_python_settings(stage: str, settings_file: Path, dest_dir: Path) -> Path:
    """`zappa save-python-settings-file`: the zappa_settings.py module the handler imports."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    output = dest_dir / "zappa_settings.py"
    subprocess.run(
        [
            str(ZAPPA),
            "save-python-settings-file",
            stage,
            "-s",
            str(settings_file),
            "-o",
            str(output),
        ],
        cwd=REPO,
        env=offline_env(VIRTUAL_ENV=sys.prefix),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return output


def stage_settings(stage: str, settings_file: Path | None = None) -> dict:
    """One stage's settings with `extends` resolved the way Zappa resolves it."""
    settings = json.loads((settings_file or REPO / "zappa_settings.json").read_text())
    resolved = dict(settings[stage])
    parent = resolved.get("extends")
    if parent:
        base = stage_settings(parent, settings_file)
        base.update(resolved)
        resolved = base
    return resolved


def build_models_layer() -> tuple[Path, Path]:
    """The face-model layer zip (ops/serverless/models_layer.py) and its unpacked /opt tree."""
    from ops.serverless.models_layer import build

    zip_path = CACHE / "face-models-layer.zip"
    opt = CACHE / "face-models-layer"
    with _locked("layer"):
        if not zip_path.exists():
            partial = zip_path.with_suffix(".partial.zip")
            build(partial)
            partial.rename(zip_path)
        if not (opt / "python").exists():
            shutil.rmtree(opt, ignore_errors=True)
            with zipfile.ZipFile(zip_path) as archive:
                archive.extractall(opt)
    return zip_path, opt
