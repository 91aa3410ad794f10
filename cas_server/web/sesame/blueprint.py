"""The ``sesame`` blueprint, in a module of its own: the view modules and the package that
registers them (``init_app``) do not import each other."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("sesame", "cas_server.web.sesame", url_prefix="/sesame")
