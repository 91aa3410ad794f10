"""Help requests on SQL (#16): the queue, each request's steps, the purge after retention.

Each change of a request is one conditional ``UPDATE`` (open requests only), so
two operators acting at once never reopen or overwrite a closed request; the
step is written in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Engine, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ...accounts.help_requests import (
    Case,
    Draft,
    HelpEvent,
    HelpRequest,
    Status,
    new_reference,
)
from .help_request_rows import HelpRequestEventRow, HelpRequestRow

R = cast(Table, HelpRequestRow.__table__)
E = cast(Table, HelpRequestEventRow.__table__)
REFERENCE_TRIES = 5


def _request(row: Any) -> HelpRequest:
    return HelpRequest(
        id=row.id,
        reference=row.reference,
        created_at=row.created_at,
        language=row.language,
        requester_name=row.requester_name,
        child_name=row.child_name,
        school=row.school,
        login_hint=row.login_hint,
        contact_email=row.contact_email,
        contact_phone=row.contact_phone,
        case=Case(row.case) if row.case in Case._value2member_map_ else Case.OTHER,
        text=row.text,
        status=Status(row.status),
        assigned_to=row.assigned_to,
        account_uuid=row.account_uuid,
        closed_at=row.closed_at,
        answer=row.answer,
        answered_at=row.answered_at,
    )


class SqlHelpRequestStore:
    def __init__(self, engine: Engine, reference: Callable[[], str] = new_reference) -> None:
        self.engine = engine
        self.reference = reference

    def create(self, draft: Draft, language: str, now: float) -> HelpRequest:
        """A new request with a fresh reference (drawn again on the rare collision)."""
        for attempt in range(REFERENCE_TRIES):
            request_id = str(uuid.uuid4())
            values = {
                "id": request_id,
                "reference": self.reference(),
                "created_at": now,
                "language": language[:16],
                "requester_name": draft.requester_name,
                "child_name": draft.child_name,
                "school": draft.school,
                "login_hint": draft.login_hint,
                "contact_email": draft.contact_email,
                "contact_phone": draft.contact_phone,
                "case": draft.case.value,
                "text": draft.text,
                "status": Status.NEW.value,
            }
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(R).values(**values))
                    conn.execute(
                        insert(E).values(
                            request_id=request_id, at=now, actor=None, kind="submitted"
                        )
                    )
            except IntegrityError:
                if attempt == REFERENCE_TRIES - 1:
                    raise
                continue
            found = self.get(request_id)
            assert found is not None
            return found
        raise AssertionError("unreachable")

    def get(self, request_id: str) -> HelpRequest | None:
        if not request_id or len(request_id) > 36:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(R).where(R.c.id == request_id)).first()
        return _request(row) if row is not None else None

    def by_reference(self, reference: str) -> HelpRequest | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(R).where(R.c.reference == reference)).first()
        return _request(row) if row is not None else None

    def page(
        self, statuses: tuple[Status, ...], page: int, per_page: int
    ) -> tuple[list[HelpRequest], int]:
        """Requests in ``statuses``, oldest first (the queue's order); and how many in all."""
        where = R.c.status.in_([s.value for s in statuses])
        with self.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(R).where(where)).scalar_one())
            rows = conn.execute(
                select(R)
                .where(where)
                .order_by(R.c.created_at, R.c.id)
                .limit(per_page)
                .offset((page - 1) * per_page)
            ).all()
        return [_request(r) for r in rows], total

    def counts(self) -> dict[Status, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(R.c.status, func.count()).group_by(R.c.status)).all()
        found = {str(status): int(n) for status, n in rows}
        return {s: found.get(s.value, 0) for s in Status}

    def about(self, account_uuid: str, limit: int = 10) -> list[HelpRequest]:
        """The requests linked to an account, newest first (the record's box)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(R)
                .where(R.c.account_uuid == account_uuid)
                .order_by(R.c.created_at.desc())
                .limit(limit)
            ).all()
        return [_request(r) for r in rows]

    def events(self, request_id: str) -> list[HelpEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(E).where(E.c.request_id == request_id).order_by(E.c.at, E.c.id)
            ).all()
        return [HelpEvent(at=r.at, actor=r.actor, kind=r.kind, detail=r.detail) for r in rows]

    def _change(
        self, request_id: str, actor: str, kind: str, detail: str | None, now: float, **values: Any
    ) -> bool:
        """One conditional update of an open request and its step; False if it is closed
        (or gone)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(R)
                .where((R.c.id == request_id) & (R.c.status != Status.DONE.value))
                .values(**values)
            ).rowcount
            if changed != 1:
                return False
            conn.execute(
                insert(E).values(
                    request_id=request_id, at=now, actor=actor, kind=kind, detail=detail
                )
            )
        return True

    def assign(self, request_id: str, actor: str, now: float) -> bool:
        return self._change(
            request_id,
            actor,
            "assigned",
            None,
            now,
            status=Status.ASSIGNED.value,
            assigned_to=actor,
        )

    def link(
        self, request_id: str, account_uuid: str | None, login: str | None, actor: str, now: float
    ) -> bool:
        kind = "linked" if account_uuid else "unlinked"
        return self._change(request_id, actor, kind, login, now, account_uuid=account_uuid)

    def answer(self, request_id: str, text: str, actor: str, now: float) -> bool:
        return self._change(request_id, actor, "answered", text, now, answer=text, answered_at=now)

    def note(self, request_id: str, kind: str, detail: str, actor: str, now: float) -> bool:
        """A step without a change (an action done from the record, told back here)."""
        return self._change(request_id, actor, kind, detail, now)

    def close(self, request_id: str, note: str | None, actor: str, now: float) -> bool:
        return self._change(
            request_id, actor, "closed", note, now, status=Status.DONE.value, closed_at=now
        )

    def purge(self, closed_before: float) -> int:
        """Remove requests closed before ``closed_before``, and their steps (CNIL)."""
        old = select(R.c.id).where(R.c.closed_at.is_not(None) & (R.c.closed_at < closed_before))
        with self.engine.begin() as conn:
            conn.execute(delete(E).where(E.c.request_id.in_(old)))
            removed = conn.execute(
                delete(R).where(R.c.closed_at.is_not(None) & (R.c.closed_at < closed_before))
            ).rowcount
        return int(removed or 0)
