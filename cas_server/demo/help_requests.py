"""Demo data: two help requests waiting in the console's queue (#16), as parents write them."""

from __future__ import annotations

from collections.abc import Iterator

from flask import current_app

from ..accounts.help_requests import Case, Draft, Status
from ..runtime.container import Container

DEMO_REQUESTS = (
    Draft(
        requester_name="Nadia Benali",
        child_name=None,
        school=None,
        login_hint="parent",
        contact_email="nadia.b@example.org",
        contact_phone=None,
        case=Case.FORGOT_ADDRESS,
        text=(
            "Bonjour, je ne me souviens plus de l'adresse e-mail donnée à l'activation : "
            "je ne reçois pas le lien de réinitialisation. Ma nouvelle adresse est "
            "nadia.b@example.org. Merci."
        ),
    ),
    Draft(
        requester_name="Paul Martin",
        child_name="Camille Martin",
        school="Université de Démonstration, L2",
        login_hint=None,
        contact_email=None,
        contact_phone="01 23 45 67 89",
        case=Case.LOCKED,
        text="Ma fille n'arrive plus à se connecter depuis hier.",
    ),
)


def load_help_request_demo(c: Container) -> Iterator[str]:
    """The demo requests, once (nothing when ``[help_requests]`` is off)."""
    desk = current_app.extensions.get("help_requests")
    if desk is None or not desk.settings.enabled:
        return
    existing, _ = desk.store.page(tuple(Status), 1, 1000)
    names = {(r.requester_name, r.case) for r in existing}
    for draft in DEMO_REQUESTS:
        if (draft.requester_name, draft.case) in names:
            yield f"help request from {draft.requester_name}: already there"
            continue
        created = desk.store.create(draft, "fr", c.clock.now())
        yield f"help request {created.reference} from {draft.requester_name}: created"
