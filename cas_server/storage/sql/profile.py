"""What the profile page reads and writes beyond the account repository.

Links between accounts ("rapprochement de comptes") are the console's
(:class:`~.console.SqlConsoleStore`: ``link``, ``unlink``, ``details``), and
the joker the self-service store's; this module holds the rest: every charter
acceptance (for the data export) and the change of one recovery channel.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Engine, Table, select, update

from .models import AccountRow, CharterAcceptanceRow

A = cast(Table, AccountRow.__table__)
CH = cast(Table, CharterAcceptanceRow.__table__)
CHANNELS = {
    "email": (A.c.personal_email, A.c.personal_email_verified_at),
    "mobile": (A.c.mobile, A.c.mobile_verified_at),
}


class SqlProfileStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def charter_acceptances(self, uuid: str) -> list[tuple[str, str, datetime]]:
        """(charter, version, accepted at), newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(CH.c.charter, CH.c.version, CH.c.accepted_at)
                .where(CH.c.account_uuid == uuid)
                .order_by(CH.c.accepted_at.desc(), CH.c.id.desc())
            ).all()
        return [(r.charter, r.version, r.accepted_at) for r in rows]

    def set_channel(self, uuid: str, channel: str, value: str, verified_at: datetime) -> bool:
        """The personal e-mail or the mobile, verified at ``verified_at``; the other stays."""
        column, verified = CHANNELS[channel]
        with self.engine.begin() as conn:
            result = conn.execute(
                update(A)
                .where(A.c.uuid == uuid)
                .values({column: value, verified: verified_at, A.c.modified_at: verified_at})
            )
        return result.rowcount == 1
