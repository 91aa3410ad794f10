"""The new-password form shared by every page that sets one (forced change,
activation, reset, profile): the policy's rules as a live checklist, and
the server's verdict in the same words (T15).

Rules with a count are said through the catalogs' plural forms ("1 lettre",
"2 lettres"). On the console's force-change page the administrator sets
someone else's password: the rules then say "their login", "son identifiant"
(``for_someone_else``), never "your".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext, ngettext

from ..accounts.i18n import N_, NP_
from ..accounts.policy import PasswordPolicy, Violation
from ..runtime.container import container

NEW_FIELD = "new_password"
CONFIRM_FIELD = "confirm_password"
MAX_PASSWORD_FIELD = 1024

# The rules that speak of the person, as said to an administrator (msgid, or singular
# and plural msgids).
SOMEONE_ELSE: Mapping[str, str | tuple[str, str]] = {
    "not_login": N_("Must not contain their login"),
    "name_run": NP_(
        "No more than %(n)s consecutive character of their name",
        "No more than %(n)s consecutive characters of their name",
    ),
    "history": NP_(
        "Must differ from their last password", "Must differ from their last %(n)s passwords"
    ),
}


def _say(
    rule: str,
    message: str,
    plural: str | None,
    count: int | None,
    params: Mapping[str, Any],
    for_someone_else: bool,
) -> str:
    other = SOMEONE_ELSE.get(rule) if for_someone_else else None
    if isinstance(other, tuple):
        message, plural = other
    elif other is not None:
        message, plural = other, None
    if plural is not None and count is not None:
        return str(ngettext(message, plural, count, **params))
    return str(gettext(message, **params))


def explain(violation: Violation, for_someone_else: bool = False) -> str:
    """A violation in the user's language (zxcvbn's advice follows its rule)."""
    text = _say(
        violation.rule,
        violation.message,
        violation.plural,
        violation.count,
        violation.params,
        for_someone_else,
    )
    advice = violation.params.get("feedback") if violation.rule == "zxcvbn" else None
    if advice:
        # msgids of accounts/entropy.ZXCVBN_FEEDBACK, never zxcvbn's own text
        text += " " + " ".join(str(gettext(msgid)) for msgid in advice)
    return text


def checklist(
    policy: PasswordPolicy | None = None, for_someone_else: bool = False
) -> list[dict[str, Any]]:
    """The rules as the template and the script need them."""
    policy = policy or container().passwords.policy
    items = []
    for rule in policy.describe():
        params = dict(rule["params"])
        # msgids, marked where the rule is defined
        text = _say(
            rule["rule"],
            rule["message"],
            rule.get("plural"),
            rule.get("count"),
            params,
            for_someone_else,
        )
        items.append(
            {"rule": rule["rule"], "text": text, "client": rule["client"], "params": params}
        )
    return items


def password_form_context(
    violations: list[Violation] | None = None,
    mismatch: bool = False,
    for_someone_else: bool = False,
) -> dict[str, Any]:
    """Template context for ``partials/password_fields.html``.

    ``for_someone_else``: an administrator types another person's (temporary) password.
    """
    items = checklist(for_someone_else=for_someone_else)
    errors = [explain(v, for_someone_else) for v in violations or []]
    if mismatch:
        errors.append(gettext("The two passwords are different."))
    return {
        "password_for_someone_else": for_someone_else,
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
