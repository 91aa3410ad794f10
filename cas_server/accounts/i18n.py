"""Translation markers usable below the web layer."""


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a singular/plural pair for extraction (``-k NP_:1,2``); it is chosen with
    ``ngettext`` and the count where it is shown."""
    return singular, plural
