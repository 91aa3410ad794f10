"""The new-password form shared by every page that sets one (forced change,
activation, reset, profile): the policy's rules as a live checklist, and
the server's verdict in the same words (T15)."""

from __future__ import annotations

import json
from typing import Any

from flask_babel import gettext

from ..accounts.policy import PasswordPolicy, Violation
from ..container import container

NEW_FIELD = "new_password"
CONFIRM_FIELD = "confirm_password"
MAX_PASSWORD_FIELD = 1024


def explain(violation: Violation) -> str:
    """A violation in the user's language."""
    return str(gettext(violation.message, **dict(violation.params)))


def checklist(policy: PasswordPolicy | None = None) -> list[dict[str, Any]]:
    """The rules as the template and the script need them."""
    policy = policy or container().passwords.policy
    items = []
    for rule in policy.describe():
        params = dict(rule["params"])
        message: str = rule["message"]  # a msgid, marked where the rule is defined
        text = gettext(message, **params)
        items.append(
            {"rule": rule["rule"], "text": str(text), "client": rule["client"], "params": params}
        )
    return items


def password_form_context(
    violations: list[Violation] | None = None, mismatch: bool = False
) -> dict[str, Any]:
    """Template context for ``partials/password_fields.html``."""
    items = checklist()
    errors = [explain(v) for v in violations or []]
    if mismatch:
        errors.append(gettext("The two passwords are different."))
    return {
        "policy_rules": items,
        "policy_json": json.dumps(
            [{"rule": i["rule"], "params": i["params"], "client": i["client"]} for i in items]
        ),
        "password_errors": errors,
        "broken_rules": {v.rule for v in violations or []},
    }


def read_new_password(form: Any) -> tuple[str, bool]:
    """The new password and whether its confirmation matches (bounded in size)."""
    new = str(form.get(NEW_FIELD, ""))[:MAX_PASSWORD_FIELD]
    confirm = str(form.get(CONFIRM_FIELD, ""))[:MAX_PASSWORD_FIELD]
    return new, new == confirm
