"""The development `.env` that `make run` writes and settings read."""

from __future__ import annotations

from pathlib import Path

from portal import dotenv


def test_rewriting_keeps_comments_and_lines_it_does_not_understand(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# my notes\n"
        "export PUBLIC_BASE_URL=http://old:8000  # replaced\n"
        "EXTRA='a b # c'\n"
        "this line is not a setting\n"
        "\n"
        "OTHER=1 # kept as typed\n"
    )

    values = dotenv.write(path, public_base_url="http://127.0.0.1:9000", egress=None)

    lines = path.read_text().splitlines()
    assert lines[:6] == [
        "# my notes",
        "export PUBLIC_BASE_URL=http://127.0.0.1:9000",
        "EXTRA='a b # c'",
        "this line is not a setting",
        "",
        "OTHER=1 # kept as typed",
    ]
    assert [line.split("=")[0] for line in lines[6:]] == ["DEBUG", "SECRET_KEY"]
    assert values["EXTRA"] == "a b # c"
    assert dotenv.read(path)["OTHER"] == "1"


def test_values_with_quotes_backslashes_and_newlines_read_back_unchanged(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    awkward = 'say "hi"\\n and C:\\temp\nsecond line # not a comment'

    dotenv.write(path, public_base_url=awkward, egress="127.0.0.0/8, ::1/128")

    assert dotenv.read(path)["PUBLIC_BASE_URL"] == awkward
    assert dotenv.read(path)["EGRESS_ALLOWED_NETWORKS"] == "127.0.0.0/8, ::1/128"
    assert len([line for line in path.read_text().splitlines() if "PUBLIC_BASE_URL" in line]) == 1


def test_a_new_file_starts_with_the_header_and_keeps_its_secret_key(tmp_path: Path) -> None:
    path = tmp_path / ".env"

    first = dotenv.write(path, public_base_url="http://127.0.0.1:8000", egress=None)
    second = dotenv.write(path, public_base_url="http://127.0.0.1:8000", egress=None)

    assert path.read_text().startswith(dotenv.HEADER)
    assert second["SECRET_KEY"] == first["SECRET_KEY"]
    assert path.read_text().count("SECRET_KEY=") == 1
