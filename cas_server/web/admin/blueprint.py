"""The ``admin`` blueprint, in a module of its own: the view modules and the package that
registers them (``init_app``) do not import each other."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", "cas_server.web.admin", url_prefix="/admin")
