"""The SAML half of a logout: the SPs an ending SSO session signed in to.

:func:`cas_server.web.cas.login_flow.end_browser_session` calls
:func:`front_channel` with every logout (``/logout``, a new sign-in in the
same browser, ``/idp/slo``): each SP with a SingleLogoutService gets its
LogoutRequest (HTTP-Redirect, SAML profiles 4.4.3.2) through a hidden frame
of the page this browser is shown, like CAS's front-channel services; the
session's participants are forgotten either way.

This module imports nothing of the views (``login_flow`` imports it).
"""

from __future__ import annotations

import logging

from ...protocol.cas.slo import FrontChannelRequest
from ...protocol.cas.tickets import ticket_digest
from ...protocol.cas.urls import origin
from ...protocol.saml2.ports import SamlParticipant
from ...runtime.container import container

log = logging.getLogger(__name__)
SERVICE_PREFIX = "saml:"  # FrontChannelRequest.service_id of an SP


def front_channel(tgt_id: str) -> list[FrontChannelRequest]:
    """The LogoutRequest URL of each SP of the session ``tgt_id``, which is forgotten."""
    if not tgt_id.isascii():
        return []
    return for_handle(ticket_digest(tgt_id))


def for_handle(handle: str) -> list[FrontChannelRequest]:
    """The same for a session known by its handle (``ticket_digest`` of its TGT)."""
    return end_handle(handle)[0]


def end_handle(handle: str) -> tuple[list[FrontChannelRequest], list[SamlParticipant]]:
    """The frames of the session ``handle``'s SPs, and those SPs, which are forgotten:
    the profile's "end this session" frames them and tells the SOAP ones."""
    c = container()
    if c.saml is None or c.saml_sessions is None:
        return [], []
    participants = c.saml_sessions.participants(handle)
    if not participants:
        return [], []
    c.saml_sessions.forget(handle)
    requests: list[FrontChannelRequest] = []
    for participant in participants:
        try:
            outgoing = c.saml.logout_request(participant)
        except Exception:  # an SP's broken metadata must not stop the logout
            log.exception("no LogoutRequest for %s", participant.sp_entity_id)
            continue
        source = origin(outgoing.url) if outgoing is not None else None
        if outgoing is None or source is None:
            continue
        sp = c.saml.service_provider(participant.sp_entity_id)
        requests.append(
            FrontChannelRequest(
                service_id=SERVICE_PREFIX + participant.sp_entity_id,
                service_name=sp.name if sp is not None else participant.sp_entity_id,
                url=outgoing.url,
                origin=source,
            )
        )
    return requests, participants


def frames_self(requests: list[FrontChannelRequest]) -> bool:
    """An SP's frame comes back to this server (its LogoutResponse): the page must let
    its own origin in the frames too."""
    return any(r.service_id.startswith(SERVICE_PREFIX) for r in requests)
