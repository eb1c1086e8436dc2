"""Add CPython 3.12 bytecode to the Lambda zip that `zappa package` built, in place.

    python ops/serverless/bytecode.py dist/portal-production.zip

Lambda unpacks the zip into a read-only task root, so Python can never cache what it compiles:
a zip without `.pyc` files compiles every module it imports on every cold start (seconds of
CPU). Zappa's `exclude` keeps `__pycache__` out on purpose (the development tree's bytecode
is for whatever interpreter and sources it was written from); this step adds the right files.

The bytecode is hash-based and *unchecked* (PEP 552, what `compileall --invalidation-mode
unchecked-hash` writes): Python loads it without looking at the source's mtime, which the zip
keeps only to two seconds and Lambda's unpacking does not promise. The sources stay in the zip,
so tracebacks still show their lines. Every entry keeps its mode and date; each `.pyc` takes
its source's.

Bytecode is specific to a minor version (the magic number), so only CPython 3.12, the
python3.12 runtime's interpreter, may write it.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

RUNTIME = (3, 12)
CACHE_TAG = "cpython-312"
# PEP 552 flags word: bit 0 = hash-based, bit 1 = check the source. Unchecked: 0b01.
UNCHECKED_HASH_FLAGS = 0b01


class WrongPython(RuntimeError):
    """The running interpreter cannot write bytecode that Lambda's python3.12 reads."""


@dataclass
class BytecodeReport:
    compiled: int = 0
    failed: list[str] = field(default_factory=list)  # sources that are not valid Python 3.12
    bytes_added: int = 0


def check_interpreter(
    implementation: str = sys.implementation.name,
    version: tuple[int, ...] = sys.version_info[:2],
) -> None:
    if implementation != "cpython" or tuple(version[:2]) != RUNTIME:
        raise WrongPython(
            f"bytecode for Lambda's python3.12 runtime must be compiled by CPython 3.12; "
            f"this is {implementation} {'.'.join(map(str, version[:2]))} ({sys.executable}). "
            "Run it with python3.12 (e.g. .venv/bin/python)."
        )


def pyc_name(source: str) -> str:
    """`pkg/mod.py` -> `pkg/__pycache__/mod.cpython-312.pyc`, where the import system looks."""
    path = PurePosixPath(source)
    return str(path.parent / "__pycache__" / f"{path.stem}.{CACHE_TAG}.pyc").removeprefix("./")


def unchecked_pyc(source: bytes, name: str) -> bytes:
    """The `.pyc` bytes of one source: magic, flags, source hash, marshalled code object."""
    code = compile(source, name, "exec", dont_inherit=True, optimize=0)
    header = (
        importlib.util.MAGIC_NUMBER
        + UNCHECKED_HASH_FLAGS.to_bytes(4, "little")
        + importlib.util.source_hash(source)
    )
    return header + marshal.dumps(code)


def add_bytecode(zip_path: Path) -> BytecodeReport:
    """Rewrite the zip with a `.pyc` beside every `.py`; earlier `.pyc` entries are replaced."""
    check_interpreter()
    report = BytecodeReport()
    fd, tmp = tempfile.mkstemp(dir=zip_path.parent, prefix=f".{zip_path.name}.")
    os.close(fd)
    try:
        with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(tmp, "w") as out:
            entries = [i for i in source.infolist() if not i.filename.endswith(".pyc")]
            for info in entries:
                out.writestr(info, source.read(info))
            # Zappa writes no folder entries; if a zip has them, __pycache__/ gets its parent's.
            folders = {info.filename: info for info in entries if info.is_dir()}
            for info in entries:
                if info.is_dir() or not info.filename.endswith(".py"):
                    continue
                try:
                    pyc = unchecked_pyc(source.read(info), info.filename)
                except (SyntaxError, ValueError):
                    report.failed.append(info.filename)  # not importable on 3.12 either
                    continue
                target = pyc_name(info.filename)
                cache_dir = f"{PurePosixPath(target).parent}/"
                parent = folders.get(f"{PurePosixPath(info.filename).parent}/")
                if parent is not None and cache_dir not in folders:
                    folders[cache_dir] = _folder_like(parent, cache_dir)
                    out.writestr(folders[cache_dir], b"")
                out.writestr(_file_like(info, target), pyc)
                report.compiled += 1
                report.bytes_added += len(pyc)
        os.chmod(tmp, os.stat(zip_path).st_mode & 0o777)
        os.replace(tmp, zip_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return report


def _file_like(info: zipfile.ZipInfo, name: str) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, info.date_time)
    entry.external_attr = info.external_attr  # the Unix mode lives in the high 16 bits
    entry.create_system = info.create_system
    entry.compress_type = zipfile.ZIP_DEFLATED
    return entry


def _folder_like(info: zipfile.ZipInfo, name: str) -> zipfile.ZipInfo:
    entry = _file_like(info, name)
    entry.compress_type = zipfile.ZIP_STORED
    return entry


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_file():
        sys.stderr.write("usage: python ops/serverless/bytecode.py dist/portal-<stage>.zip\n")
        return 2
    zip_path = Path(argv[0])
    try:
        report = add_bytecode(zip_path)
    except WrongPython as exc:
        sys.stderr.write(f"bytecode.py: {exc}\n")
        return 2
    sys.stdout.write(
        f"{zip_path}: {report.compiled} modules compiled ({CACHE_TAG}, unchecked-hash), "
        f"{report.bytes_added / 2**20:.1f} MiB of bytecode added\n"
    )
    if report.failed:
        shown = ", ".join(report.failed[:5]) + (" ..." if len(report.failed) > 5 else "")
        sys.stdout.write(f"  not valid Python 3.12, left without bytecode: {shown}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
