"""Ticket validation endpoints (CAS Protocol 3.0 sections 2.4 to 2.9, and SAML 1.1).

Validation failures answer HTTP 200 with the failure document: Java
clients treat a 4xx as a transport error and show their users a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial

from flask import Blueprint, Response, request
from sqlalchemy.exc import SQLAlchemyError

from ...protocol.cas import responses, saml
from ...protocol.cas.errors import CasError, InternalError, InvalidRequest
from ...protocol.cas.ports import StoreUnavailable
from ...protocol.cas.urls import flag
from ...protocol.cas.validation import TicketValidator as Validator
from ...protocol.cas.validation import ValidationRequest
from ...runtime.container import container
from ..security import csrf

bp = Blueprint("validate", __name__)
log = logging.getLogger(__name__)

MAX_SAML_BODY = 64 * 1024
CONTENT_TYPES = {"XML": responses.XML_CONTENT_TYPE, "JSON": responses.JSON_CONTENT_TYPE}


def _reply(body: str, content_type: str) -> Response:
    return Response(body, status=200, content_type=content_type)


def _request(args: Mapping[str, str], allow_proxy_tickets: bool) -> ValidationRequest:
    return ValidationRequest(
        service=args.get("service"),
        ticket=args.get("ticket"),
        renew=flag(args.get("renew")),
        pgt_url=args.get("pgtUrl") or None,
        allow_proxy_tickets=allow_proxy_tickets,
    )


# --- the answers, shared with the fast path (fast_path.py) ---------------------------


def cas1_answer(validator: Validator, args: Mapping[str, str]) -> tuple[str, str]:
    """CAS 1.0 (2.4): ``yes`` and the user, or ``no``. Service tickets only."""
    try:
        assertion = validator.validate(_request(args, allow_proxy_tickets=False))
        body = responses.validate_success(assertion.user)
    except (CasError, SQLAlchemyError, StoreUnavailable) as error:
        if not isinstance(error, CasError):
            log.exception("ticket store unavailable during validation")
        body = responses.validate_failure()
    return body, responses.TEXT_CONTENT_TYPE


def service_answer(
    validator: Validator,
    args: Mapping[str, str],
    *,
    allow_proxy_tickets: bool,
    with_attributes: bool,
) -> tuple[str, str]:
    """/serviceValidate, /proxyValidate and /p3 (2.5, 2.6, 2.8): the XML or JSON document."""
    fmt = "XML"
    try:
        fmt = responses.parse_format(args.get("format"))
        assertion = validator.validate(_request(args, allow_proxy_tickets))
        body = responses.service_response_success(
            # /p3 always; the CAS 2.0 endpoints when the service asks (decided
            # at load, carried by the assertion: no lookup here).
            assertion,
            with_attributes=with_attributes or assertion.cas2_attributes,
            fmt=fmt,
        )
    except CasError as error:
        body = responses.service_response_failure(error, fmt)
    except (SQLAlchemyError, StoreUnavailable):
        log.exception("ticket store unavailable during validation")
        body = responses.service_response_failure(
            InternalError("The ticket store is unavailable; try again"), fmt
        )
    return body, CONTENT_TYPES[fmt]


Answer = Callable[[Validator, Mapping[str, str]], tuple[str, str]]
# Path -> (endpoint name, answer): the GET validation endpoints.
ANSWERS: dict[str, tuple[str, Answer]] = {
    "/validate": ("validate.validate", cas1_answer),
    "/serviceValidate": (
        "validate.service_validate",
        partial(service_answer, allow_proxy_tickets=False, with_attributes=False),
    ),
    "/proxyValidate": (
        "validate.proxy_validate",
        partial(service_answer, allow_proxy_tickets=True, with_attributes=False),
    ),
    "/p3/serviceValidate": (
        "validate.p3_service_validate",
        partial(service_answer, allow_proxy_tickets=False, with_attributes=True),
    ),
    "/p3/proxyValidate": (
        "validate.p3_proxy_validate",
        partial(service_answer, allow_proxy_tickets=True, with_attributes=True),
    ),
}


def _answer(path: str) -> Response:
    return _reply(*ANSWERS[path][1](container().validator, request.args))


@bp.get("/validate")
def validate() -> Response:
    return _answer("/validate")


@bp.get("/serviceValidate")
def service_validate() -> Response:
    return _answer("/serviceValidate")


@bp.get("/proxyValidate")
def proxy_validate() -> Response:
    return _answer("/proxyValidate")


@bp.get("/p3/serviceValidate")
def p3_service_validate() -> Response:
    return _answer("/p3/serviceValidate")


@bp.get("/p3/proxyValidate")
def p3_proxy_validate() -> Response:
    return _answer("/p3/proxyValidate")


@bp.get("/proxy")
def proxy() -> Response:
    """/proxy (2.7): a proxy ticket for targetService from a PGT."""
    fmt = "XML"
    try:
        fmt = responses.parse_format(request.args.get("format"))
        ticket = container().validator.proxy(
            request.args.get("pgt"), request.args.get("targetService")
        )
        body = responses.proxy_success(ticket, fmt)
    except CasError as error:
        body = responses.proxy_failure(error, fmt)
    except (SQLAlchemyError, StoreUnavailable):
        log.exception("ticket store unavailable during /proxy")
        body = responses.proxy_failure(
            InternalError("The ticket store is unavailable; try again"), fmt
        )
    return _reply(body, CONTENT_TYPES[fmt])


@bp.post("/samlValidate")
def saml_validate() -> Response:
    """SAML 1.1 validation: POST a SOAP samlp:Request; ``TARGET`` names the service."""
    c = container()
    now = c.clock.now()
    request_id = ""
    try:
        if request.content_length is not None and request.content_length > MAX_SAML_BODY:
            raise InvalidRequest("SAML request body is too large")
        try:
            parsed = saml.parse_saml_request(request.get_data(cache=False)[: MAX_SAML_BODY + 1])
        except saml.SamlRequestError as exc:
            raise InvalidRequest(f"Invalid SAML request: {exc}") from exc
        request_id = parsed.request_id
        assertion = c.validator.validate(
            ValidationRequest(
                service=request.args.get("TARGET"),
                ticket=parsed.ticket,
                renew=flag(request.args.get("renew")),
            )
        )
        body = saml.saml_success(
            assertion,
            request_id=request_id,
            now=now,
            issuer=c.settings.public_url,
            ticket_lifetime=30,
        )
    except CasError as error:
        body = saml.saml_failure(error, request_id=request_id, now=now)
    except (SQLAlchemyError, StoreUnavailable):
        log.exception("ticket store unavailable during SAML validation")
        body = saml.saml_failure(
            InternalError("The ticket store is unavailable; try again"),
            request_id=request_id,
            now=now,
        )
    return _reply(body, saml.SAML_CONTENT_TYPE)


# Called by services, server to server: no browser session, no CSRF token.
csrf.exempt(saml_validate)
