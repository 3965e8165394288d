"""``systemctl reload einvd`` (SIGHUP): the configuration file and the API keys read again and swapped in.

What changes live is kept small: the API keys (the key file's content, and ``api.keys_file`` /
``api.keys_credential``, where they are read from) and the alert webhook and printed-notice settings
(``alerts.webhook_url``, ``webhook_secret``, ``webhook_timeout``, ``webhook_max_attempts``, ``print_notices``,
``print_kinds``). Every other setting is built into a running part at start (the store path, the listen address
and unix socket, the seller and QR key, the drop, the printer, the scanner, the schedule) and is reported as
"needs a restart" and left as it is. A new configuration that does not load (TOML, values, key file) changes
nothing: the caller logs it and raises a ``config.reload_failed`` alert, and the daemon runs on as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime

from daemon.alerts import raise_alert
from daemon.api.keys import ApiKey, keys_path, load_keys
from daemon.config import ConfigError, Settings, load
from daemon.store import Store, stamp
from daemon.store import alerts as table

FAILED = "config.reload_failed"
LIVE_API = ("keys_file", "keys_credential", "tls_pin")  # tls_pin is the client's only
LIVE_ALERTS = ("webhook_url", "webhook_secret", "webhook_timeout", "webhook_max_attempts", "print_notices",
               "print_kinds")
LIVE = frozenset({*(f"api.{name}" for name in LIVE_API), *(f"alerts.{name}" for name in LIVE_ALERTS)})
SECTIONS = ("turnkey", "printer", "api", "scanner", "schedule", "alerts")
NAMES = {
    "store_path": "store.path", "qr_key": "qr.key", "qr_encoding": "qr.encoding", "schema_dir": "mig.schema_dir",
    "void_cutoff_day": "numbering.void_cutoff_day", "head_ban": "seller.head_ban", "api.host": "api.listen",
    "backdate_limit": "numbering.backdate_limit",
    "api.port": "api.listen", "turnkey.key_file": "turnkey.key", "turnkey.layout": "turnkey folder layout",
    "schedule.e0402": "e0402.enabled", "schedule.close_after_hours": "e0402.close_after_hours",
    "schedule.due_day": "e0402.due_day", "schedule.report_dir": "reports.dir",
    "schedule.daily_after": "reports.daily_after", "schedule.archive_dir": "archive.dir",
    "schedule.archive_format": "archive.format", "schedule.settle_days": "archive.settle_days",
    "schedule.retention_periods": "archive.retention_periods",
}
"""Settings fields -> the configuration keys a person knows (the rest are spelled alike)."""


def changes(old: Settings, new: Settings) -> list[str]:
    """The settings that differ, as ``section.field`` names (fields of the settings dataclasses), in order."""
    names: list[str] = []
    for item in fields(Settings):
        before, after = getattr(old, item.name), getattr(new, item.name)
        if before == after:
            continue
        if item.name in SECTIONS:
            names += [f"{item.name}.{sub.name}" for sub in fields(before)
                      if getattr(before, sub.name) != getattr(after, sub.name)]
        else:
            names.append(item.name)
    return names


def spelled(names: list[str]) -> list[str]:
    """``changes`` as configuration keys (``store_path`` -> ``store.path``), each once."""
    return list(dict.fromkeys(NAMES.get(name, name) for name in names))


@dataclass(frozen=True)
class Reloaded:
    """What a reload swaps in: the settings now in effect (the old ones with the live changes), the keys, which
    live settings changed and which changed settings need a restart."""

    settings: Settings
    keys: Mapping[str, ApiKey]
    applied: list[str]
    restart: list[str]
    from_credential: bool


def prepare(current: Settings) -> Reloaded:
    """Read the configuration file (``current.source``) and the key file again; ConfigError when either is bad
    (nothing is changed then). A key file without a single key is refused too: it would lock every POS out."""
    new = load(current.source)
    path = keys_path(new.api)
    keys = load_keys(path)
    if not keys:
        raise ConfigError(f"API key file {path} holds no key: every POS would be refused")
    changed = changes(current, new)
    live = [name for name in changed if name in LIVE]
    api = replace(current.api, **{name: getattr(new.api, name) for name in LIVE_API})
    alerts = replace(current.alerts, **{name: getattr(new.alerts, name) for name in LIVE_ALERTS})
    from_credential = new.api.keys_file is None  # keys_path() read the systemd credential
    return Reloaded(replace(current, api=api, alerts=alerts), keys, live,
                    spelled([name for name in changed if name not in LIVE]), from_credential)


def key_changes(old: Mapping[str, ApiKey], new: Mapping[str, ApiKey]) -> str:
    """Which key ids came, went or changed (secret or permissions); ids only, never a secret."""
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(key for key in set(old) & set(new) if old[key] != new[key])
    parts = [f"{label} {', '.join(ids)}" for label, ids in (("added", added), ("removed", removed),
                                                            ("changed", changed)) if ids]
    return "; ".join(parts) or "unchanged"


def record_failure(store: Store, now: datetime, message: str) -> bool:
    """A ``config.reload_failed`` alert, one per failed reload (each is a person's ``systemctl reload``)."""
    with store.write() as tx:
        new = raise_alert(tx, FAILED, "config", stamp(now), now, message[:500])
    return new


def clear_failures(store: Store, now: datetime) -> int:
    """A reload that worked clears the open ``config.reload_failed`` alerts; how many."""
    with store.write() as tx:
        cleared = sum(table.clear(tx, stamp(now), FAILED, "config", entity_id)
                      for entity_id in table.open_entity_ids(tx, FAILED))
    return cleared
