"""Helpers shared by the tests: one place, imported by every test folder.

Plain functions and classes live here; fixtures stay in the ``conftest.py`` files.

- ``paths``: the checkout, this virtualenv's scripts, ``tests/data``.
- ``app``: the app in the test process: settings, ``make_account``, ``CasBrowser``,
  ``through_cas``, ``rows``/``events``.
- ``html``: the CSRF token of a form, a page's text.
- ``console``, ``profile``, ``sesame``: signing in to those pages and filling their forms.
- ``captcha_solver``: answers (and the review's attacker of) the CAPTCHA question.
- ``outbound``: an SMTP sink and an SMS gateway that receive what the server sends.
- ``endpoints``, ``slo``: a service's own HTTP(S) endpoint; single logout as services see it.
- ``fakes``: test doubles for the protocol's ports.
- ``cli``: the ``cas-server`` command, in-process or as a process.
- ``servers``: real PostgreSQL, Redis and OpenLDAP (their fixtures are made visible
  by ``tests/conftest.py``).
- ``ports``, ``gunicorn``, ``http``: free ports, the real server under gunicorn, a
  ``requests`` session, for the whole-server suites.
- ``browser``: what the Chromium tests share.
"""
