"""API keys: id -> secret and permissions, from a TOML file only the service user can read.

    [keys.pos1]
    secret = "at least 32 printable ASCII characters"
    permissions = ["issue", "void"]

The file is the configured ``api.keys_file`` or, when that is empty, the systemd credential
``$CREDENTIALS_DIRECTORY/<api.keys_credential>``. A file that group or others may read is refused, and so is one
owned by another user. Secrets are never put in a log line or an error message.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.config import ApiSettings, ConfigError, credential

PERMISSIONS = ("issue", "void", "admin")
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)
_SECRET = re.compile(r"[\x21-\x7e]{32,256}", re.ASCII)


@dataclass(frozen=True)
class ApiKey:
    id: str
    secret: bytes = field(repr=False)
    permissions: frozenset[str]

    def allows(self, permission: str) -> bool:
        """``admin`` may do everything; reads need only a valid key (permission ``read``)."""
        return permission == "read" or permission in self.permissions or "admin" in self.permissions


def parse_keys(data: Mapping[str, Any], source: str) -> dict[str, ApiKey]:
    keys = data.get("keys")
    if not isinstance(keys, dict) or set(data) != {"keys"}:
        raise ConfigError(f"{source}: expected only [keys.<id>] tables")
    return {key_id: _key(key_id, entry, source) for key_id, entry in keys.items()}


def _key(key_id: str, entry: Any, source: str) -> ApiKey:
    where = f"{source}: key {key_id!r}"
    if not _KEY_ID.fullmatch(key_id):
        raise ConfigError(f"{where}: ids are 1-64 letters, digits, '_', '.' or '-'")
    if not isinstance(entry, dict) or set(entry) - {"secret", "permissions"}:
        raise ConfigError(f"{where}: only secret and permissions may be set")
    secret, permissions = entry.get("secret"), entry.get("permissions")
    if not isinstance(secret, str) or not _SECRET.fullmatch(secret):
        raise ConfigError(f"{where}: the secret must be 32-256 printable ASCII characters (not shown here)")
    if not isinstance(permissions, list) or not permissions or not set(permissions) <= set(PERMISSIONS):
        raise ConfigError(f"{where}: permissions must be a non-empty list of {', '.join(PERMISSIONS)}")
    return ApiKey(key_id, secret.encode("ascii"), frozenset(permissions))


def keys_path(settings: ApiSettings) -> Path:
    if settings.keys_file is not None:
        return settings.keys_file
    path = credential(settings.keys_credential, present=False)
    if path is None:
        raise ConfigError("no API keys: set api.keys_file or pass the credential "
                          f"{settings.keys_credential!r} (systemd LoadCredential=)")
    return path


def load_keys(path: Path) -> dict[str, ApiKey]:
    """Read and check the key file: owned by this user, not readable by group or others."""
    try:
        info = path.stat()
        if info.st_uid != os.getuid():
            raise ConfigError(f"API key file {path} must belong to the user einvd runs as")
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise ConfigError(f"API key file {path} may be readable by its owner only (chmod 600)")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read API key file {path}: {type(error).__name__}") from None
    return parse_keys(data, str(path))
