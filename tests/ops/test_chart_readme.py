"""The chart's README: its values table is values.yaml's (generated, so it cannot drift), every
value has a meaning, and the ServiceAccounts it names are the ones the releases render."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.ops.support import CHART, OPS, Rendered, one

# Nothing here touches the database: left out of the PostgreSQL pass.
pytestmark = pytest.mark.nodb

GENERATOR = OPS / "helm_charts" / "values_table.py"
README = CHART / "README.md"
VALUES = CHART / "values.yaml"

# A script beside the chart, not a package: loaded from its path (registered first, as its
# dataclass needs).
_spec = importlib.util.spec_from_file_location("values_table", GENERATOR)
assert _spec is not None
assert _spec.loader is not None
values_table = sys.modules.setdefault("values_table", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(values_table)


def test_keeps_the_values_table_equal_to_values_yaml() -> None:
    readme = README.read_text()
    expected = values_table.readme_with_table(readme, values_table.table(VALUES))
    assert readme == expected, (
        "the README's values table is out of date: "
        "python ops/helm_charts/values_table.py ops/helm_charts/portal --write"
    )


def test_gives_every_value_a_default_and_a_meaning() -> None:
    rows = values_table.rows(VALUES)
    undocumented = [row.key for row in rows if not row.description]
    assert undocumented == [], f"add a `# -- ` comment above these in values.yaml: {undocumented}"
    # Every top-level value has its row (or rows for its keys).
    top = {row.key.split(".")[0] for row in rows}
    assert top == set(yaml.safe_load(VALUES.read_text()))
    for key in ("extraEnv", "extraVolumes", "extraVolumeMounts", "aws.podIdentity.roleArn"):
        assert any(row.key == key for row in rows), key


def test_detects_a_value_added_without_its_row(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    chart.mkdir()
    (chart / "values.yaml").write_text(VALUES.read_text() + "\n# -- A new value.\nnewValue: 1\n")
    (chart / "README.md").write_text(README.read_text())
    generated = values_table.table(chart / "values.yaml")
    assert "| `newValue` | `1` | A new value. |" in generated
    assert generated not in README.read_text()
    # The command line updates the README in place.
    subprocess.run(
        [sys.executable, str(GENERATOR), str(chart), "--write"],
        check=True,
    )
    assert generated in (chart / "README.md").read_text()


def test_names_the_service_accounts_the_releases_render(rendered: dict[str, Rendered]) -> None:
    named = dict(
        re.findall(r"^\| `(portal[-a-z]*)` \| `[a-z]+` \| `([-a-z]+)` \|", README.read_text(), re.M)
    )
    for release in rendered.values():
        account = one(release.docs, "ServiceAccount")["metadata"]["name"]
        assert named[release.release] == account
