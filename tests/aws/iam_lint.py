"""Run by the tools venv's Python (cloudsplaining and parliament clash with the app's
dependencies): reads {"name": policy document} as JSON on stdin, prints each policy's findings
as JSON on stdout. tests/aws/test_iam.py decides what is acceptable."""

from __future__ import annotations

import json
import sys
from typing import Any


def cloudsplaining_findings(policy: dict[str, Any]) -> dict[str, list[Any]]:
    from cloudsplaining.scan.policy_document import PolicyDocument

    document = PolicyDocument(policy)
    return {
        "privilege_escalation": document.allows_privilege_escalation,
        "permissions_management_without_constraints": (
            document.permissions_management_without_constraints
        ),
        "write_actions_without_constraints": document.write_actions_without_constraints,
        "tagging_actions_without_constraints": document.tagging_actions_without_constraints,
        "data_exfiltration": document.allows_data_exfiltration_actions,
        "credentials_exposure": document.credentials_exposure,
        "service_wildcard": document.service_wildcard,
    }


def parliament_findings(policy: dict[str, Any]) -> list[dict[str, Any]]:
    from parliament import analyze_policy_string

    analyzed = analyze_policy_string(json.dumps(policy), include_community_auditors=True)
    return [
        {"issue": finding.issue, "detail": str(finding.detail), "location": str(finding.location)}
        for finding in analyzed.findings
    ]


def main() -> int:
    policies: dict[str, dict[str, Any]] = json.load(sys.stdin)
    report = {
        name: {
            "cloudsplaining": cloudsplaining_findings(policy),
            "parliament": parliament_findings(policy),
        }
        for name, policy in policies.items()
    }
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
