"""The audit action vocabulary: the enum, the docs and the code name the same actions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from chat.domain.audit_actions import AuditAction

ROOT = Path(__file__).resolve().parents[2]


def _documented_actions() -> list[str]:
    text = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    section = text.split("\n## Audit actions\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", section, flags=re.MULTILINE)


def test_docs_list_every_action_once() -> None:
    documented = _documented_actions()
    assert len(documented) == len(set(documented)), "an action is listed twice"
    assert set(documented) == {action.value for action in AuditAction}


def test_no_audit_call_names_its_action_as_a_bare_string() -> None:
    """An action is written as ``AuditAction.X``: a bare string would be a name no
    reader of docs/audit.md can find (mypy refuses it too; this catches ``Any``)."""
    recorders = {"audit", "audit_within", "audit_or_fail"}
    bare = []
    for path in [*(ROOT / "chat").rglob("*.py"), *(ROOT / "admin").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in recorders:
                continue
            for arg in node.args:
                for leaf in ast.walk(arg):
                    if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str) \
                            and "." in leaf.value:
                        bare.append(f"{path.relative_to(ROOT)}:{node.lineno} {leaf.value}")
    assert bare == []


def test_every_audit_action_has_a_console_label_in_both_languages() -> None:
    """The console's audit log page names each action (admin/audit_labels.py); a new
    action without a label would show only its raw name."""
    from admin.audit_labels import ACTION_LABELS

    assert set(ACTION_LABELS) == set(AuditAction)
    assert all(ja and en for ja, en in ACTION_LABELS.values())
