"""The ``profile`` blueprint, in a module of its own: the view modules and the package that
registers them (``init_app``) do not import each other."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("profile", "cas_server.web.profile", url_prefix="/profile")
