"""Search accounts by the first letters of a name, a login, an alias, an e-mail or a number."""

from __future__ import annotations

from typing import Any

from flask import request

from ...accounts.console import clean_query
from ...admin import admin
from .blueprint import bp
from .support import console, page, page_number


@bp.get("/")
@console()
def home() -> Any:
    query = clean_query(request.args.get("q", ""))
    settings = admin().settings
    results = admin().store.search(query, page_number(), settings.page_size) if query else None
    return page("search", query=query, results=results)
