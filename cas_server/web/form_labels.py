"""What each field of a page is called, for its error summary.

The error summary lists "<field label>: <message>", each linked to its field, on
every form (self-service, profile, console). The label is the one the field shows:
the field macros of ``partials/form_macros.html`` note it as they print it, and the
summary, rendered after the form (``{% call error_summary(errors) %}…{% endcall %}``)
but placed above it, reads it back. So a label is written once, in the template,
and the summary can never name a field otherwise than the page does.

One :class:`FieldLabels` per rendered page (:func:`~cas_server.web.theming.render_page`
gives it to the template as ``field_labels``).
"""

from __future__ import annotations

from typing import Any


class FieldLabels:
    """Field id → the label (or legend) the page shows for it."""

    def __init__(self) -> None:
        self._labels: dict[str, Any] = {}

    def note(self, field_id: str, label: Any) -> str:
        """Remember ``label`` for ``field_id`` (the first one wins); prints nothing.

        ``label`` is kept as given: translated text from a template is already
        escaped markup, and is printed back as such.
        """
        self._labels.setdefault(str(field_id), label)
        return ""

    def get(self, field_id: str) -> Any | None:
        return self._labels.get(field_id)
