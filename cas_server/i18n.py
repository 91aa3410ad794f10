"""Translation markers usable below the web layer."""


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message
