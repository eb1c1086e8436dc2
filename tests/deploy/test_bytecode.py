"""ops/serverless/bytecode.py on a small zip: what it adds, what it keeps, what it refuses."""

from __future__ import annotations

import importlib.util
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ops.serverless.bytecode import WrongPython, check_interpreter, pyc_name

pytestmark = pytest.mark.nodb

SCRIPT = Path(__file__).resolve().parents[2] / "ops" / "serverless" / "bytecode.py"
SOURCES = {
    "handler.py": b"def lambda_handler(event, context):\n    return 'ok'\n",
    "pkg/__init__.py": b"",
    "pkg/mod.py": "# -*- coding: utf-8 -*-\nNAME = 'caf\u00e9'\n".encode(),
    "pkg/py2_only.py": b"print 'not Python 3'\n",
}


def make_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in SOURCES.items():
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            archive.writestr(info, data)
        archive.writestr("static/site.css", b"body {}\n")
    return path


def run(zip_path: Path, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, str(SCRIPT), str(zip_path)], capture_output=True, text=True, timeout=60
    )


def test_adds_unchecked_hash_bytecode_beside_every_source_and_keeps_the_sources(
    tmp_path: Path,
) -> None:
    zip_path = make_zip(tmp_path / "portal.zip")
    result = run(zip_path)
    assert result.returncode == 0, result.stderr
    assert "3 modules compiled" in result.stdout
    assert "pkg/py2_only.py" in result.stdout  # named, not silently dropped
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        for name in ("handler.py", "pkg/__init__.py", "pkg/mod.py"):
            pyc = archive.getinfo(pyc_name(name))
            data = archive.read(pyc)
            assert data[:4] == importlib.util.MAGIC_NUMBER
            assert int.from_bytes(data[4:8], "little") == 0b01  # hash-based, unchecked
            assert data[8:16] == importlib.util.source_hash(SOURCES[name])
            assert pyc.external_attr >> 16 == stat.S_IFREG | 0o755  # the source's mode
        assert pyc_name("pkg/py2_only.py") not in names
        assert {"static/site.css", *SOURCES} <= set(names)
        assert archive.getinfo("pkg/mod.py").external_attr >> 16 == stat.S_IFREG | 0o755
    assert pyc_name("pkg/mod.py") == "pkg/__pycache__/mod.cpython-312.pyc"


def test_running_twice_leaves_one_bytecode_file_per_source(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "portal.zip")
    assert run(zip_path).returncode == 0
    assert run(zip_path).returncode == 0
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    assert len(names) == len(set(names))
    assert sum(name.endswith(".pyc") for name in names) == 3


def test_the_unpacked_bytecode_is_what_python_imports(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "portal.zip")
    assert run(zip_path).returncode == 0
    root = tmp_path / "task"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root)
    # Change the source after packaging: only bytecode that is never checked ignores it.
    (root / "pkg" / "mod.py").write_text("NAME = 'changed'\n")
    code = "import pkg.mod; print(pkg.mod.NAME)"
    out = subprocess.run(
        [sys.executable, "-S", "-I", "-B", "-c", f"import sys; sys.path.insert(0, '.'); {code}"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "caf\u00e9"


@pytest.mark.parametrize(
    ("implementation", "version"), [("cpython", (3, 11)), ("cpython", (3, 13)), ("pypy", (3, 12))]
)
def test_refuses_an_interpreter_that_is_not_cpython_312(
    implementation: str, version: tuple[int, int]
) -> None:
    with pytest.raises(WrongPython, match=r"CPython 3\.12; this is " + implementation):
        check_interpreter(implementation, version)


def test_the_command_refuses_another_python_and_leaves_the_zip_alone(tmp_path: Path) -> None:
    other = Path("/usr/bin/python3.11")
    if not other.exists():
        pytest.skip("no second Python here; the refusal itself is tested above")
    zip_path = make_zip(tmp_path / "portal.zip")
    before = zip_path.read_bytes()
    result = run(zip_path, python=str(other))
    assert result.returncode == 2
    assert "must be compiled by CPython 3.12; this is cpython 3.11" in result.stderr
    assert zip_path.read_bytes() == before
