"""The stacks of ops/aws/stacks.yaml for one stage: names, templates, parameters, outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ops.vantages import regions as vantage_regions

HERE = Path(__file__).resolve().parent
STACKS_FILE = HERE / "stacks.yaml"
STAGES = ("dev", "production")


class StackConfigError(Exception):
    """Something a stage needs is missing: the message names it."""


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub...) read as their long forms."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 (a SafeLoader subclass)


@dataclass(frozen=True)
class Stack:
    name: str
    concern: str  # "network", "ecr", ...: the template's stem
    template: Path
    parameters: dict[str, str] = field(default_factory=dict)
    # parameter -> (concern, output) of an earlier stack of the same stage
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)
    per_stage: bool = True


def plan(stage: str, stacks_file: Path = STACKS_FILE) -> list[Stack]:
    """The stacks of a stage in creation order (account-wide ones included)."""
    if stage not in STAGES:
        raise StackConfigError(f"unknown stage {stage!r}: expected one of {', '.join(STAGES)}")
    config = yaml.safe_load(stacks_file.read_text())
    stacks = []
    for entry in config["stacks"]:
        if stage not in entry.get("stages", STAGES):
            continue
        template = stacks_file.parent / entry["template"]
        declared = load_template(template).get("Parameters", {}) if template.exists() else {}
        by_stage = entry.get("parameters", {})
        values: dict[str, Any] = {**by_stage.get("all", {}), **by_stage.get(stage, {})}
        if "Stage" in declared:
            values = {"Stage": stage, **values}
        if "VantageRegions" in declared:  # the one list of regions, never a copy of it
            values = {"VantageRegions": ",".join(vantage_regions()), **values}
        parameters: dict[str, str] = {}
        imports: dict[str, tuple[str, str]] = {}
        for key, value in values.items():
            if isinstance(value, dict):
                concern, _, output = value["from"].partition(".")
                imports[key] = (concern, output)
            else:
                parameters[key] = str(value)
        stacks.append(
            Stack(
                name=entry["name"].format(stage=stage),
                concern=template.stem,
                template=template,
                parameters=parameters,
                imports=imports,
                per_stage="{stage}" in entry["name"],
            )
        )
    return stacks


def account_settings(stacks_file: Path = STACKS_FILE) -> dict[str, Any]:
    return yaml.safe_load(stacks_file.read_text()).get("account", {})


def stack_outputs(cloudformation: Any, name: str) -> dict[str, str]:
    """A stack's outputs; a stack that does not exist raises StackConfigError naming it."""
    try:
        found = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as e:
        if "does not exist" in str(e):
            raise StackConfigError(f"stack {name} does not exist (ops/aws/deploy.py)") from None
        raise
    return {o["OutputKey"]: o["OutputValue"] for o in found[0].get("Outputs", [])}
