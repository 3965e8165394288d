"""TOML configuration -> frozen settings. Unknown keys and bad values are ``ConfigError`` (exit code 78)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from turnkey.ban import is_valid_ban
from turnkey.model import Party
from turnkey.proof import ENCODINGS, derive_qr_key, parse_qr_key

EXIT_CONFIG = 78


class ConfigError(Exception):
    """Bad configuration: the message names the key."""


@dataclass(frozen=True)
class Settings:
    seller: Party
    store_path: Path
    qr_key: bytes | None
    qr_encoding: str
    void_cutoff_day: int
    source: Path | None
    head_ban: str = ""
    schema_dir: Path | None = None

    def require_issuer(self) -> tuple[Party, bytes]:
        """The seller and QR key, or ConfigError naming what is missing."""
        if not self.seller.identifier:
            raise ConfigError("seller.ban is not set: einvd cannot issue invoices without the merchant's 統一編號")
        if self.qr_key is None:
            raise ConfigError("no QR AES key: set qr.key, qr.seed_password or the qr.key_credential credential")
        return self.seller, self.qr_key


def defaults() -> dict[str, Any]:
    text = resources.files("daemon").joinpath("default.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _merge(base: dict[str, Any], override: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        name = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(f"unknown configuration key {name}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{name} must be a table")
            merged[key] = _merge(base[key], value, f"{name}.")
        elif type(value) is not type(base[key]):
            raise ConfigError(f"{name} must be a {type(base[key]).__name__}")
        else:
            merged[key] = value
    return merged


def _seller(raw: dict[str, Any]) -> Party:
    ban = raw["ban"]
    if ban and not is_valid_ban(ban):
        raise ConfigError(f"seller.ban {ban!r} is not a valid 統一編號")
    if ban and not raw["address"].strip():
        raise ConfigError("seller.address is required (Turnkey refuses invoices without a seller address)")
    if ban and not 1 <= len(raw["name"]) <= 60:
        raise ConfigError("seller.name must be 1-60 characters")
    return Party(ban, raw["name"], raw["address"], raw["person_in_charge"], raw["telephone"], email=raw["email"])


def _qr_key(raw: dict[str, Any]) -> bytes | None:
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    secret = raw["key"]
    if not secret and credentials and (Path(credentials) / raw["key_credential"]).is_file():
        secret = (Path(credentials) / raw["key_credential"]).read_text(encoding="ascii").strip()
    try:
        if secret:
            return parse_qr_key(secret)
    except ValueError as error:
        raise ConfigError(f"qr.key: {error}") from error
    return derive_qr_key(raw["seed_password"]) if raw["seed_password"] else None


def load(path: Path | None) -> Settings:
    """Defaults, overridden by the TOML file at ``path`` (None: defaults only)."""
    raw = defaults()
    base = Path.cwd()
    if path is not None:
        try:
            raw = _merge(raw, tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"cannot read configuration {path}: {error}") from error
        base = path.parent
    if raw["qr"]["encoding"] not in ENCODINGS:
        raise ConfigError("qr.encoding must be 0 (Big5), 1 (UTF-8) or 2 (Base64)")
    cutoff = raw["numbering"]["void_cutoff_day"]
    if not 1 <= cutoff <= 15:
        raise ConfigError("numbering.void_cutoff_day must be 1-15")
    head_ban = raw["seller"]["head_ban"]
    if head_ban and not is_valid_ban(head_ban):
        raise ConfigError(f"seller.head_ban {head_ban!r} is not a valid 統一編號")
    schema_dir = base / raw["mig"]["schema_dir"] if raw["mig"]["schema_dir"] else None
    return Settings(
        _seller(raw["seller"]), base / raw["store"]["path"], _qr_key(raw["qr"]), raw["qr"]["encoding"], cutoff, path,
        head_ban or raw["seller"]["ban"], schema_dir,
    )
