"""Composition root, the consumer's e-mail notice: the SMTP relay of ``[notify.smtp]`` and the sender job."""

from __future__ import annotations

from daemon.config import Settings, SmtpSettings
from daemon.mail import MailSender, Transport
from daemon.ports import RandomSource
from daemon.store import Store
from drivers.smtp import SmtpRelay, qr_png


def smtp_transport(conf: SmtpSettings) -> Transport:
    return SmtpRelay(conf.host, conf.port, conf.security, conf.user, conf.password, conf.timeout).send


def mail_sender(settings: Settings, store: Store, rng: RandomSource,
                transport: Transport | None = None) -> MailSender | None:
    """The notice sender; None when no relay is configured (the notices wait in the queue)."""
    conf = settings.smtp
    if not conf.host and transport is None:
        return None
    seller, key = settings.require_issuer()
    return MailSender(store, seller, key, settings.qr_encoding, conf.sender, transport or smtp_transport(conf),
                      qr_png, conf.max_attempts, rng)
