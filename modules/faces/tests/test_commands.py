"""manage.py faces_compare (exit 0 match, 1 no match, 2 error) and faces_evaluate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from PIL import Image

from modules.faces.models import Comparison
from modules.faces.tests.fixtures import REPO_ROOT
from modules.faces.tests.uploads import BIDEN, DOGS, OBAMA, OBAMA_2


def run_compare(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("faces_compare", *args, stdout=out, stderr=err)
    return exit_info.value.code, out.getvalue(), err.getvalue()


def test_faces_compare_exits_0_on_a_match(db, faces_dir: Path):
    code, out, _ = run_compare(str(faces_dir / OBAMA), str(faces_dir / OBAMA_2))

    assert code == 0
    assert out.startswith("same person: distance 0.")
    log = Comparison.objects.get()
    assert (log.source, log.verdict, log.user) == ("cli", "match", None)


def test_faces_compare_exits_1_when_the_people_differ_and_prints_json(db, faces_dir: Path):
    code, out, _ = run_compare(
        str(faces_dir / OBAMA), str(faces_dir / BIDEN), "--json", "--threshold", "0.55"
    )

    body = json.loads(out)
    assert code == 1
    assert body["match"] is False
    assert body["threshold"] == 0.55
    assert body["id"] == Comparison.objects.get().pk


def test_faces_compare_exits_2_on_an_image_error(db, faces_dir: Path, tmp_path: Path):
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("not a photo")

    no_face = run_compare(str(faces_dir / OBAMA), str(faces_dir / DOGS))
    invalid = run_compare(str(not_image), str(faces_dir / OBAMA), "--json")

    assert no_face[0] == 2
    assert no_face[2].strip() == "error: no_face (image B): No face was found."
    assert invalid[0] == 2
    assert json.loads(invalid[1])["error"]["code"] == "invalid_image"
    assert json.loads(invalid[1])["error"]["details"]["which"] == "a"


@pytest.mark.nodb
def test_faces_compare_exits_2_from_a_real_process_on_a_missing_file(tmp_path: Path):
    # In a real process: Django would exit 1 on a CommandError, which means "no match" here.
    result = subprocess.run(
        [sys.executable, "manage.py", "faces_compare", str(tmp_path / "a.jpg"), "b.jpg"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
    )

    assert result.returncode == 2, result.stderr
    assert "error: unreadable_file" in result.stderr
    assert "No such file" in result.stderr


def test_faces_compare_exits_2_on_a_bad_threshold(db, faces_dir: Path):
    code, _, err = run_compare(str(faces_dir / OBAMA), str(faces_dir / OBAMA), "--threshold", "5")

    assert code == 2
    assert "threshold" in err


@pytest.mark.slow
@pytest.mark.nodb
def test_faces_evaluate_classifies_every_labelled_pair_at_the_default_threshold(
    faces_dir: Path, tmp_path: Path
):
    plot = tmp_path / "distributions.png"
    out = StringIO()

    call_command(
        "faces_evaluate", str(faces_dir / "pairs.tsv"), "--json", "--plot", str(plot), stdout=out
    )

    report = json.loads(out.getvalue())
    assert report["pairs"] == 127
    assert report["evaluated"] == 127
    assert report["errors"] == 0
    assert report["threshold"] == 0.6
    wrong = [o for o in report["outcomes"] if not o["correct"]]
    assert wrong == []
    assert report["accuracy"] == 1.0
    assert report["at_threshold"]["false_match"]["rate"] == 0.0
    assert report["at_threshold"]["false_non_match"]["rate"] == 0.0
    assert report["best_accuracy"] == 1.0
    with Image.open(plot) as image:
        assert image.format == "PNG"


@pytest.mark.nodb
def test_faces_evaluate_reports_in_text_with_a_root(faces_dir: Path, tmp_path: Path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "img_a\timg_b\tsame_person\n"
        f"{OBAMA}\t{OBAMA_2}\t1\n"
        f"{OBAMA}\t{BIDEN}\t0\n"
        f"{OBAMA}\t{DOGS}\t0\n"
    )
    out = StringIO()

    call_command(
        "faces_evaluate", str(pairs), "--root", str(faces_dir), stdout=out, stderr=StringIO()
    )

    text = out.getvalue()
    assert "pairs: 3 (1 same, 1 different, 1 not scored)" in text
    assert "threshold 0.6: accuracy 100.0%" in text
    assert f"no_face in {DOGS}" in text


@pytest.mark.nodb
def test_faces_evaluate_exits_2_on_an_unreadable_pairs_file(tmp_path: Path):
    bad = tmp_path / "pairs.tsv"
    bad.write_text("a.jpg b.jpg yes\n")
    err = StringIO()

    with pytest.raises(SystemExit) as missing:
        call_command("faces_evaluate", str(tmp_path / "none.tsv"), stderr=err)
    with pytest.raises(SystemExit) as malformed:
        call_command("faces_evaluate", str(bad), stderr=err)

    assert missing.value.code == malformed.value.code == 2
    assert "line 1" in err.getvalue()
