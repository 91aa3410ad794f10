"""Loading the deployment's password policy from ``config/password-policies``."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from ..accounts.policy import PasswordPolicy, load_words
from .policy_config import PolicyError, policy_from_mapping


def load_policy(directory: Path, name: str) -> PasswordPolicy:
    """The policy ``<directory>/<name>.toml``; blocklists are files beside it."""
    path = directory / f"{name}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PolicyError("passwords.policy", f"no policy file {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(str(path), f"not valid TOML: {exc}") from exc

    @cache
    def words(list_name: str) -> frozenset[str]:
        list_path = directory / list_name
        if list_path.parent != directory:
            raise PolicyError("blocklists", f"{list_name!r} must be a file name beside the policy")
        try:
            return load_words(list_path.read_text(encoding="utf-8").splitlines())
        except FileNotFoundError as exc:
            raise PolicyError("blocklists", f"no such file {list_path}") from exc

    try:
        return policy_from_mapping(name, data, words)
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc.key}", str(exc)) from exc
