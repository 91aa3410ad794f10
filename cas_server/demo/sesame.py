"""Demo data for the self-service pages (``cas-server demo``): an account to activate,
a joker question and a mobile for ``etudiant``, personal facts for ``parent``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

from ..accounts.joker import normalize_answer
from ..accounts.model import Profile, Source, Status
from ..accounts.recovery import COUNTRY_ATTRIBUTE, ORGANISATION_TYPE_ATTRIBUTE
from ..accounts.tokens import digest, normalize_activation_code
from ..runtime.container import Container
from ..storage.sql.sesame import SqlSesameStore

NEWCOMER = "lucas.moreau"
ACTIVATION_CODE = "DEMO-ACTI-VATE-2026"
JOKER = ("first_pet", "Caramel")
ETUDIANT_MOBILE = "+33612345678"


def load_sesame_demo(c: Container) -> Iterator[str]:
    store = SqlSesameStore(c.engine, c.accounts)
    now = datetime.now(UTC)
    if c.accounts.find_by_login(NEWCOMER) is None:
        account = c.accounts.create(
            NEWCOMER,
            profile=Profile.STUDENT,
            status=Status.NOT_ACTIVATED,
            given_name="Lucas",
            family_name="Moreau",
            birth_date=date(2006, 9, 1),
            student_number="22009999",
            ine="9876543210Z",
            personal_email="lucas.moreau@example.net",
            source=Source.CSV,
            attributes={"mail": ["lucas.moreau@etu.univ-demo.fr"]},
        )
        store.set_activation_code(account.uuid, digest(normalize_activation_code(ACTIVATION_CODE)))
        yield (
            f"{NEWCOMER}: created, not activated (student number 22009999, INE 9876543210Z, "
            f"born 01/09/2006, activation code {ACTIVATION_CODE})"
        )
    else:
        yield f"{NEWCOMER}: already there"

    etudiant = c.accounts.find_by_login("etudiant")
    if etudiant is not None and not store.recovery_info(etudiant.uuid).joker_question:
        question, answer = JOKER
        with store.transaction() as tx:
            tx.set_joker(etudiant.uuid, question, c.passwords.hasher(normalize_answer(answer)), now)
            tx.set_channels(
                etudiant.uuid,
                email=etudiant.personal_email,
                mobile=ETUDIANT_MOBILE,
                email_verified_at=now,
                mobile_verified_at=now,
                now=now,
            )
        yield f"etudiant: joker question set (answer {answer}), mobile {ETUDIANT_MOBILE}"

    parent = c.accounts.find_by_login("parent")
    if parent is not None and COUNTRY_ATTRIBUTE not in parent.attributes:
        attributes = {k: list(v) for k, v in parent.attributes.items()}
        attributes[COUNTRY_ATTRIBUTE] = ["FR"]
        attributes[ORGANISATION_TYPE_ATTRIBUTE] = ["individual"]
        c.accounts.set_attributes(parent.uuid, attributes)
        yield "parent: country FR and organisation type 'individual' on file (Metamots path)"
