"""Saved plans: review a plan on a pull request, apply exactly that plan on merge, or nothing.

`plan --out FILE` writes the plan with what it was made from (the environment file's and the
profiles' sha256) and every RRset's before/after. `<stage> --plan FILE` re-plans against live
DNS and applies only when the result is the saved plan, byte for byte: a record changed out of
band, an edited environment file or template each refuse the apply (exit 1) and say which.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .config import Environment
from .errors import ChecksFailed, UsageError
from .plan import Plan
from .profiles import available_profiles

SCHEMA = "mailcutover.planfile/1"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs_digest(env: Environment) -> dict[str, str]:
    """sha256 of the environment file and of every profile template it renders."""
    profiles = available_profiles(env.root)
    senders = available_profiles(env.root, "senders")
    used = {
        f"profile {name}": profiles[name]
        for name in (env.migration.from_profile, env.migration.to_profile)
        if name in profiles
    }
    for domain in env.domains:
        for name in domain.senders:
            if name in senders:
                used[f"sender {name}"] = senders[name]
    digest = {"environment file": _sha(env.path)}
    digest.update({k: _sha(p) for k, p in sorted(used.items())})
    return digest


def counts(plans: list[Plan]) -> dict[str, int]:
    actions = [c.action for p in plans for c in p.changes]
    return {
        "zones": len(plans),
        "zones_changed": sum(1 for p in plans if p),
        "create": actions.count("create"),
        "update": actions.count("update"),
        "delete": actions.count("delete"),
    }


def save(path: str, env: Environment, stage: str, plans: list[Plan]) -> None:
    doc = {
        "schema": SCHEMA,
        "env": env.name,
        "stage": stage,
        "inputs": inputs_digest(env),
        "counts": counts(plans),
        "plans": [p.to_dict() for p in plans],
    }
    try:
        Path(path).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    except OSError as exc:
        raise UsageError(
            f"--out {path}: cannot write: {exc.strerror}", "give a writable path"
        ) from None


def load(path: str, env: Environment, stage: str) -> dict[str, Any]:
    """The saved plan, refused in one line when it is not one or is for another env/stage."""
    try:
        doc = json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise UsageError(f"--plan {path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"--plan {path}: not a saved plan (not JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise UsageError(f"--plan {path}: not a saved plan (schema {SCHEMA} expected)")
    if doc.get("env") != env.name or doc.get("stage") != stage:
        raise UsageError(
            f"--plan {path}: saved for {doc.get('env')} {doc.get('stage')}, not {env.name} {stage}",
            f"run `cutover plan --env {env.name} --stage {stage} --out FILE`",
        )
    return doc


def check_same(doc: dict[str, Any], env: Environment, plans: list[Plan], path: str) -> None:
    """Refuse (exit 1) unless re-planning now gives exactly the saved plan."""
    again = f"run `cutover plan --env {env.name} --stage {doc['stage']} --out {path}` again"
    now = inputs_digest(env)
    for what, sha in now.items():
        if doc["inputs"].get(what) != sha:
            raise ChecksFailed(f"--plan {path}: the {what} changed since the plan was saved", again)
    if set(doc["inputs"]) != set(now):
        raise ChecksFailed(f"--plan {path}: the profiles used changed since it was saved", again)
    saved = {p["zone"]: p for p in doc["plans"]}
    current = {p.zone: p.to_dict() for p in plans}
    for zone in sorted(set(saved) | set(current)):
        if saved.get(zone) != current.get(zone):
            raise ChecksFailed(
                f"--plan {path}: DNS of {zone.rstrip('.')} changed since the plan was saved; "
                "nothing was applied",
                again,
            )
