"""Missing face photos skip the tests locally and fail them on CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.faces.tests.fixtures import fixtures_dir_or_skip

pytestmark = pytest.mark.nodb


@pytest.fixture
def no_fixtures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FACES_FIXTURES_DIR", str(tmp_path))
    return tmp_path


def test_missing_photos_skip_with_the_folder_named(
    no_fixtures: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception, match="FACES_FIXTURES_DIR") as skipped:
        fixtures_dir_or_skip()

    assert str(no_fixtures) in str(skipped.value)


@pytest.mark.parametrize("value", ["true", "True", "1"])
def test_missing_photos_fail_under_ci(
    no_fixtures: Path, monkeypatch: pytest.MonkeyPatch, value: str
):
    monkeypatch.setenv("CI", value)

    with pytest.raises(pytest.fail.Exception, match="CI=true requires them") as failed:
        fixtures_dir_or_skip()

    assert str(no_fixtures) in str(failed.value)


def test_a_folder_with_the_pairs_file_is_used(no_fixtures: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CI", "true")
    (no_fixtures / "pairs.tsv").write_text("img_a\timg_b\tsame_person\n")

    assert fixtures_dir_or_skip() == no_fixtures
