"""The owner's confirmation of every password write (T11, issue #11 item 9).

:class:`~cas_server.accounts.passwords.PasswordService` calls
:meth:`PasswordNotices.password_written` once a write has committed,
whichever path made it (reset, profile, forced change at sign-in, the help
desk, the command line), so that no path can forget the mail. The mail
holds no secret; it goes to the personal address on file, in the
person's language when they made the change, else the institution's.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from datetime import UTC, datetime

from flask import current_app, has_request_context, request

from ..accounts.model import Account
from ..accounts.passwords import PasswordChange

log = logging.getLogger(__name__)

#: Activation sends its own confirmation ("your account has been activated:
#: its password … have been set"): a second mail would say the same.
OWN_CONFIRMATION = frozenset({"activation"})


class PasswordNotices:
    def password_written(self, account: Account, change: PasswordChange) -> None:
        if change.reason in OWN_CONFIRMATION or not account.personal_email:
            return
        sesame = current_app.extensions.get("sesame")
        if sesame is None:  # no mail configured: the audit trail still has it
            return
        try:
            self._send(sesame, account, account.personal_email, change)
        except Exception:  # the password is written: a mail failure must not undo the page
            log.exception("could not send the password confirmation to account %s", account.uuid)

    def _send(self, sesame: object, account: Account, to: str, change: PasswordChange) -> None:
        from .mail import render_message
        from .offline import offline_request
        from .sesame import Sesame, language, public_link

        assert isinstance(sesame, Sesame)
        settings = current_app.extensions["cas"].settings
        endpoints = current_app.view_functions
        with ExitStack() as stack:
            if not has_request_context():  # the command line
                stack.enter_context(offline_request(current_app._get_current_object()))  # type: ignore[attr-defined]
            lang = settings.default_language if change.by_operator else language()
            message = render_message(
                "changed",
                to,
                lang,
                institution_name=settings.institution_name,
                login_url=public_link("cas.login"),
                what="password",
                reason=change.reason,
                by_operator=change.by_operator,
                temporary=change.temporary,
                sessions_ended=change.sessions_ended,
                login=account.login,
                display_name=account.display_name,
                profile_url=public_link("profile.overview")
                if "profile.overview" in endpoints
                else None,
                when=datetime.now(UTC),
                ip=(request.remote_addr if change.reason != "cli" else None) or "-",
            )
        sesame.outbox.send(message)
