"""User sources tried in a configured order (``[auth] sources``).

A wrong login or password in one source lets the next one try. Any other
refusal (locked, disabled…) comes from the source that holds the account
and ends the search. A source that cannot be reached might hold the user:
if no later source signs them in, the answer is "unavailable", never
"wrong password".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from . import (
    AuthResult,
    Failure,
    Rejected,
    Reserve,
    Success,
    Unavailable,
    UserSource,
    no_reserve,
)

log = logging.getLogger(__name__)


class SourceChain:
    name = "chain"

    def __init__(self, sources: Sequence[UserSource]) -> None:
        if not sources:
            raise ValueError("a source chain needs at least one source")
        self.sources = tuple(sources)

    def authenticate(self, login: str, password: str, reserve: Reserve = no_reserve) -> AuthResult:
        """Each source reserves the account it found (or a stand-in) before it
        checks the password: the caller's budget is per account, whichever
        source holds it."""
        unavailable: Unavailable | None = None
        for source in self.sources:
            result = source.authenticate(login, password, reserve)
            if isinstance(result, Success):
                return result
            if isinstance(result, Unavailable):
                log.error(
                    "user source %s unavailable (%s): trying the next one",
                    source.name,
                    result.detail,
                )
                unavailable = unavailable or result
                continue
            if result.reason is not Failure.INVALID_CREDENTIALS:
                return result
        return unavailable or Rejected(Failure.INVALID_CREDENTIALS)
