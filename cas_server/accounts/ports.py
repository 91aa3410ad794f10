"""What the account rules need from storage."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from .model import Account


class AccountRepository(Protocol):
    def find_by_login(self, login: str) -> Account | None:
        """The account whose login or alias is ``login`` (normalised), if any."""
        ...

    def get(self, uuid: str) -> Account | None: ...

    def record_login(self, uuid: str, at: datetime) -> None: ...
