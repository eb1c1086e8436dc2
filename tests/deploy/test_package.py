"""`zappa package production`, built offline and given its bytecode as the deploy workflow
does: what is in the zip, what is not, and the unpacked package answering through its own
handler with boto3 from outside, as on Lambda, without compiling a module."""

from __future__ import annotations

import importlib.util
import re
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.serverless.bytecode import pyc_name
from tests.deploy import events
from tests.deploy.conftest import PackagedLambda
from tests.deploy.container import LambdaContainer
from tests.deploy.lambda_build import (
    BuiltPackage,
    build_models_layer,
    build_package,
)

pytestmark = [pytest.mark.nodb, pytest.mark.slow]

MIB = 1024 * 1024
# 140 MiB of files and 30 MiB of 3.12 bytecode, which spares every cold start compiling the
# modules it imports (bench/cold_start.py); the hard limit is the next test's.
BUDGET = 180 * MIB
ZIPPED_BUDGET = 64 * MIB
LAMBDA_UNZIPPED_LIMIT = 262_144_000  # "250 MB": function code and all its layers, unzipped
LAMBDA_GLIBC = (2, 34)  # Amazon Linux 2023, the python3.12 runtime's OS
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


@pytest.fixture(scope="module")
def package() -> BuiltPackage:
    return build_package("production")


@pytest.fixture(scope="module")
def names(package: BuiltPackage) -> list[str]:
    with zipfile.ZipFile(package.zip_path) as archive:
        return archive.namelist()


def test_stays_under_the_size_budget(package: BuiltPackage) -> None:
    assert package.unzipped_bytes < BUDGET, f"{package.unzipped_bytes / MIB:.1f} MiB"
    # Above 50 MB Lambda's direct upload refuses a zip; Zappa and the deploy workflow upload
    # it to S3 (where only the unzipped limit applies), and a zip this small uploads fast.
    assert package.zipped_bytes < ZIPPED_BUDGET, f"{package.zipped_bytes / MIB:.1f} MiB"


def test_fits_lambda_together_with_the_models_layer(package: BuiltPackage) -> None:
    layer_zip, _ = build_models_layer()
    with zipfile.ZipFile(layer_zip) as archive:
        layer_bytes = sum(info.file_size for info in archive.infolist())
    assert package.unzipped_bytes + layer_bytes < LAMBDA_UNZIPPED_LIMIT


@pytest.mark.parametrize(
    "pattern",
    [
        r"^boto3/",
        r"^botocore/",
        r"^s3transfer/",
        r"^pip/",
        r"shape_predictor_68_face_landmarks\.dat$",
        r"mmod_human_face_detector\.dat$",
        r"^face_recognition_models/",  # the models come in a layer
        r"^tests/",
        r"(^|/)tests/",
        r"^bench/",
        r"^ops/",
        r"^docs/",
        r"\.py[co]$(?<!\.cpython-312\.pyc)",  # bytecode of another interpreter or -O level
        r"^\.venv",
        r"^var/",
        r"^\.git/",
        r"^db\.sqlite3",
        r"^staticfiles/",
        r"^media/",
        r"^conftest\.py$",
        r"^troposphere/",  # Zappa's CLI dependencies do not run on Lambda
        r"^setuptools/",
        r"^gunicorn/",
    ],
)
def test_leaves_out(names: list[str], pattern: str) -> None:
    found = [name for name in names if re.search(pattern, name)]
    assert not found, found[:5]


@pytest.mark.parametrize(
    "name",
    [
        "handler.py",
        "zappa_settings.py",
        "django_zappa_app.py",
        "manage.py",
        "portal/settings.py",
        "portal/lambda_tasks.py",
        "modules/sos/outbox/tasks.py",
        "modules/faces/engine/dlib_models.py",
        "templates/base.html",
        "static/css/portal.css",
        "zappa/handler.py",
        "django/__init__.py",
        "numpy/__init__.py",
        "dlib/__init__.py",
        "psycopg_binary/__init__.py",
    ],
)
def test_ships(names: list[str], name: str) -> None:
    assert name in names


def test_ships_bytecode_for_every_module_of_the_project_and_its_dependencies(
    names: list[str],
) -> None:
    sources = [name for name in names if name.endswith(".py")]
    shipped = set(names)
    for root in ("portal/", "modules/", "django/", "zappa/", "handler.py", "zappa_settings.py"):
        assert any(name.startswith(root) for name in sources), root
    missing = [name for name in sources if pyc_name(name) not in shipped]
    assert not missing, missing[:10]
    expected = {pyc_name(name) for name in sources}
    orphans = [name for name in names if name.endswith(".pyc") and name not in expected]
    assert not orphans, orphans[:10]


def test_its_bytecode_is_unchecked_hash_bytecode_of_its_own_sources(
    package: BuiltPackage, names: list[str]
) -> None:
    with zipfile.ZipFile(package.zip_path) as archive:
        for name in names:
            if not name.endswith(".py"):
                continue
            pyc = archive.read(pyc_name(name))
            assert pyc[:4] == importlib.util.MAGIC_NUMBER, name  # CPython 3.12's
            # PEP 552 flags: hash-based (bit 0) and not checked against the source (bit 1).
            assert int.from_bytes(pyc[4:8], "little") == 0b01, name
            assert pyc[8:16] == importlib.util.source_hash(archive.read(name)), name


@pytest.fixture
def read_only_task_root(package: BuiltPackage, tmp_path: Path) -> Iterator[Path]:
    """The zip unpacked afresh (the mtimes the zip gives) into a folder nobody can write."""
    root = tmp_path / "task"
    with zipfile.ZipFile(package.zip_path) as archive:
        archive.extractall(root)
    folders = [root, *(path for path in root.rglob("*") if path.is_dir())]
    for folder in folders:
        folder.chmod(0o555)
    try:
        yield root
    finally:
        for folder in folders:
            folder.chmod(0o755)


def test_a_cold_start_from_the_read_only_unpacked_zip_compiles_no_module(
    packaged_lambda: PackagedLambda, read_only_task_root: Path, tmp_path: Path
) -> None:
    env = {
        **packaged_lambda.env,
        "LAMBDA_TASK_ROOT": str(read_only_task_root),
        "HOME": str(read_only_task_root),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    paths = [read_only_task_root, *packaged_lambda.paths[1:]]
    files_before = sorted(read_only_task_root.rglob("*"))
    with LambdaContainer(paths, env, tmp_path / "cold.log", audit_compiles=True) as container:
        response = container.http(events.http_event("GET", "/healthz"))
        assert response.status == 200, response
        compiled = container.compiled()
        loaded = [
            file
            for file in container.modules().values()
            if file and Path(file).is_relative_to(read_only_task_root)
        ]
    assert len(loaded) > 300, "Django, DRF, Zappa and the portal came from the task root"
    assert compiled == [], compiled[:10]
    assert sorted(read_only_task_root.rglob("*")) == files_before


def test_its_settings_module_is_the_production_stage(package: BuiltPackage) -> None:
    with zipfile.ZipFile(package.zip_path) as archive:
        text = archive.read("zappa_settings.py").decode()
    assert "API_STAGE='production'" in text
    assert "DJANGO_SETTINGS='portal.settings'" in text
    assert "BINARY_SUPPORT=True" in text
    assert "DEBUG=False" in text  # Zappa's DEBUG puts tracebacks in 500 bodies
    assert "REMOTE_ENV='s3://portal-secrets-production/portal-production.json'" in text
    assert "SECRET_KEY" not in text
    assert "DATABASE_URL" not in text


def _glibc_needed(tag: str) -> tuple[int, int] | None:
    """The glibc a wheel platform tag needs, None for a pure-Python tag."""
    if tag == "any":
        return None
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", tag)
    if match:
        assert match.group(3) == "x86_64", tag
        return int(match.group(1)), int(match.group(2))
    legacy = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)", tag)
    assert legacy, f"{tag} does not run on Lambda's Linux"
    assert legacy.group(2) == "x86_64", tag
    return LEGACY_MANYLINUX[legacy.group(1)]


def test_its_compiled_wheels_run_on_lambdas_linux(package: BuiltPackage, names: list[str]) -> None:
    with zipfile.ZipFile(package.zip_path) as archive:
        for name in names:
            if not name.endswith(".dist-info/WHEEL"):
                continue
            for line in archive.read(name).decode().splitlines():
                if not line.startswith("Tag:"):
                    continue
                python, abi, platforms = line.split(":", 1)[1].strip().split("-")
                needs = [_glibc_needed(p) for p in platforms.split(".") if "musllinux" not in p]
                if python.startswith("cp"):
                    assert python in ("cp312", "cp311", "cp310", "cp39", "cp38"), line
                    assert abi in ("cp312", "abi3", "none"), line
                compatible = [n for n in needs if n is None or n <= LAMBDA_GLIBC]
                assert compatible, f"{name}: {line} needs a newer glibc than Lambda's"


def _origin(path: str | None, packaged: PackagedLambda) -> str:
    if path is None:
        return "builtin"
    if Path(path).name == "lambda_driver.py":
        return "bootstrap"  # stands in for Lambda's own runtime bootstrap
    for label, root in (
        ("package", packaged.task_root),
        ("layer", packaged.layer_dir),
        ("runtime", packaged.runtime_dir),
        ("stdlib", Path(sysconfig.get_paths()["stdlib"])),
    ):
        if Path(path).is_relative_to(root):
            return label
    return "elsewhere"


def test_the_unpacked_package_answers_healthz_with_boto3_from_the_runtime(
    packaged_lambda: PackagedLambda,
) -> None:
    response = packaged_lambda.container.http(events.rest_event("GET", "/healthz"))
    assert response.status == 200, response
    assert response.json() == {"status": "ok"}
    modules = packaged_lambda.container.modules()
    origins = {name: _origin(path, packaged_lambda) for name, path in modules.items()}
    assert origins["boto3"] == "runtime"
    assert origins["botocore"] == "runtime"
    assert origins["django"] == "package"
    assert origins["portal.settings"] == "package"
    # Nothing came from the development venv: the package is complete on its own.
    elsewhere = {name: modules[name] for name, origin in origins.items() if origin == "elsewhere"}
    assert not elsewhere


def test_a_cold_start_imports_no_engine_and_no_service(packaged_lambda: PackagedLambda) -> None:
    with packaged_lambda.fresh("cold") as container:
        response = container.http(events.http_event("GET", "/healthz"))
        assert response.status == 200, response
        loaded = container.modules()
    heavy = [name for name in loaded if name.split(".")[0] in ("dlib", "_dlib_pybind11", "numpy")]
    assert not heavy, heavy
    # The admin registrations Django imports at start-up must not pull in the workflows, the
    # probe engines, the SOS channels or PIL: /healthz needs none of them.
    eager = [
        name
        for name in loaded
        if name.split(".")[0] == "PIL"
        or name.endswith(".services")
        or name.startswith(
            ("modules.netprobe.probes", "modules.sos.channels", "modules.faces.engine")
        )
    ]
    assert not eager, eager
