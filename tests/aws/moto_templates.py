"""Our templates as moto's CloudFormation can create them.

moto models only some resource types; it skips the others with a warning, but an output that
refers to a skipped resource fails the whole stack, and a modelled resource that refers to one
points at nothing (moto's DBInstance cannot join a cluster it never made). `for_moto` leaves out
the resources moto lacks and those that refer to them, and replaces the value of an output that
refers to them with a marker naming the type (`moto-lacks:AWS::RDS::DBCluster`): every stack is
created, every output is present, the rest is the template as written."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ops.aws.stacks import load_template

SUB_NAMES = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


def moto_supported_types() -> set[str]:
    from moto.cloudformation.parsing import NULL_MODELS, get_model_map

    return set(get_model_map()) | set(NULL_MODELS)


def _referenced(value: Any) -> set[str]:
    if isinstance(value, dict):
        names: set[str] = set()
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                names.add(inner)
            elif key == "Fn::GetAtt":
                names.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                names |= set(SUB_NAMES.findall(text))
                if isinstance(inner, list):
                    names |= _referenced(inner[1])
            else:
                names |= _referenced(inner)
        return names
    if isinstance(value, list):
        return set().union(*(_referenced(v) for v in value)) if value else set()
    return set()


def unsupported_resources(template: dict[str, Any]) -> dict[str, str]:
    """logical id -> why, for the resources left out on moto: those of a type moto's
    CloudFormation does not model ("AWS::RDS::DBCluster") and, transitively, those that refer
    to one ("AWS::RDS::DBInstance -> Cluster")."""
    supported = moto_supported_types()
    resources = template.get("Resources", {})
    skipped = {
        name: resource["Type"]
        for name, resource in resources.items()
        if resource["Type"] not in supported and not resource["Type"].startswith("Custom::")
    }
    changed = True
    while changed:
        changed = False
        for name, resource in resources.items():
            if name in skipped:
                continue
            missing = sorted(_referenced(resource.get("Properties", {})) & set(skipped))
            if missing:
                skipped[name] = f"{resource['Type']} -> {missing[0]}"
                changed = True
    return skipped


def for_moto(path: Path) -> str:
    template = load_template(path)
    skipped = unsupported_resources(template)
    for name in skipped:
        del template["Resources"][name]
    for resource in template["Resources"].values():
        if isinstance(resource.get("DependsOn"), str):
            resource["DependsOn"] = [resource["DependsOn"]]
        if "DependsOn" in resource:
            resource["DependsOn"] = [d for d in resource["DependsOn"] if d not in skipped]
    for output in template.get("Outputs", {}).values():
        missing = sorted(_referenced(output["Value"]) & set(skipped))
        if missing:
            output["Value"] = f"moto-lacks:{skipped[missing[0]]}"
    return json.dumps(template)
