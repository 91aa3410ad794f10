"""The HTTP-POST binding's page on the single sign-on hot path (``pages.post_page``).

It is joined from parts cached per theme, language and institution (``pages._shell``):
the result must be what the template itself renders, escaping included, in every
language, and keep the page's security headers and landmarks.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from cas_server.web.saml import pages
from tests.support.app import make_account
from tests.web.saml.saml_web_support import BINDING_POST, SP1, SP1_ACS, SamlSp, sign_in

AWKWARD = "a<b>&\"'é \x00slot1\x00 {{ x }}"


def _direct(action: str, fields: dict[str, str], lang: str) -> str:
    """The template rendered as a whole with the same values (no cached parts)."""
    template = pages.current_app.jinja_env.get_template(pages.theme_template("saml/post.html"))
    return template.render(
        current_lang=lang,
        institution_name=pages.institution_name(),
        action=action,
        fields=fields,
    )


def test_the_joined_page_is_the_template_rendering(app: Flask) -> None:
    for lang in ("en", "fr"):
        for fields in ({"SAMLResponse": AWKWARD}, {"SAMLResponse": "PD94", "RelayState": AWKWARD}):
            action = "https://sp.example.org/acs?a=1&b=<2>"
            with app.test_request_context("/idp/sso", headers={"Cookie": f"lang={lang}"}):
                app.preprocess_request()
                joined = pages.post_page(action, fields)
                assert joined == _direct(action, fields, lang)
                assert pages.post_page(action, fields) == joined  # from the cached parts


def test_single_sign_on_answers_with_the_light_page(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP1)
    page = sp.send(BINDING_POST, relay_state="rs<&>\"'")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="en">' in html and '<main id="content"' in html and "<h1>" in html
    assert 'class="form js-autosubmit" method="post"' in html
    assert 'name="RelayState" value="rs&lt;&amp;&gt;&#34;&#39;"' in html
    assert 'type="submit">Continue</button>' in html
    csp = page.headers["Content-Security-Policy"]
    assert "form-action 'self' https://sp1.example.org" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["Cache-Control"] == "no-store"
    answer = sp.response(page)  # pysaml2 accepts the Response it carries
    assert answer.get_identity()["eduPersonPrincipalName"] == ["alice@univ-test.fr"]
    assert SP1_ACS in html
