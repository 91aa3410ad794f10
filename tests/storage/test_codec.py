"""The authentication's JSON (#15): the surrogate round-trips; older rows decode as before."""

from __future__ import annotations

import json

from cas_server.protocol.cas.tickets import Authentication, Principal
from cas_server.storage.codec import dump_authentication, load_authentication

ALICE = Principal("alice", {"mail": ("alice@example.org",)})


def test_a_surrogate_round_trips_and_is_written_only_when_set() -> None:
    acted = Authentication(ALICE, 1_800_000_000.5, surrogate="hd.martin")
    assert load_authentication(dump_authentication(acted)) == acted
    assert json.loads(dump_authentication(acted))["s"] == "hd.martin"
    own = Authentication(ALICE, 1_800_000_000.5)
    assert "s" not in json.loads(dump_authentication(own))


def test_rows_written_before_the_surrogate_decode_as_the_persons_own() -> None:
    old = '{"u":"alice","a":{"mail":["alice@example.org"]},"t":1800000000.5,"l":true}'
    auth = load_authentication(old)
    assert auth.surrogate is None
    assert auth == Authentication(ALICE, 1_800_000_000.5, long_term=True)
    # and what this release writes for such a sign-in is the same text
    assert dump_authentication(auth) == old
