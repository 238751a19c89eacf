"""Customer e-mails over SMTP (stdlib smtplib), with the shared retry policy for the attempts of
one send; the notification's own backoff over a day is services/notifications.py's.

``ROUTER_SMTP_*`` say where: host and port, ``starttls`` / ``ssl`` / ``none``, an optional login,
and the From address. The notification's id is the Message-ID, the same on every attempt, so a
mail system that keeps Message-IDs can drop a repeat (a send whose worker died after the server
accepted it). A 4xx answer, a timeout or a dropped connection is tried again; a 5xx is final.
"""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from adapters.outbound.policy import OutboundError, outbound_retry
from config import get_settings

PARTY = "smtp"


def message_id_header(notification_id: str, sender: str) -> str:
    """``<notification id@sender's domain>``: the e-mail's Message-ID, its idempotency key."""
    return f"<{notification_id}@{sender.rpartition('@')[2] or 'orderrouter'}>"


class SmtpMailer:
    """``ports.Mailer``: one SMTP connection per e-mail (notifications are few; no pool to go stale)."""

    @outbound_retry
    def send(self, to: str, subject: str, body: str, message_id: str) -> None:
        settings = get_settings()
        if not settings.smtp_host:
            raise OutboundError(PARTY, "ROUTER_SMTP_HOST is not set", retryable=False)
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = settings.smtp_from, to, subject
        mail["Message-ID"] = message_id_header(message_id, settings.smtp_from)
        mail["Date"] = formatdate(usegmt=True)
        mail.set_content(body)  # UTF-8, as the Chinese templates need
        timeout = settings.http_timeout
        try:
            if settings.smtp_tls == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                                        context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
            with client:
                if settings.smtp_tls == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if settings.smtp_user:
                    client.login(settings.smtp_user, settings.smtp_password or "")
                client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code = min(c for c, _ in exc.recipients.values())
            raise OutboundError(PARTY, f"recipient refused: {code}", code, retryable=code < 500) from exc
        except smtplib.SMTPResponseException as exc:
            raise OutboundError(PARTY, f"{exc.smtp_code} {exc.smtp_error!r}"[:200], exc.smtp_code,
                                retryable=exc.smtp_code < 500) from exc
        except (smtplib.SMTPException, OSError) as exc:  # no answer, dropped, TLS: try again
            raise OutboundError(PARTY, f"{type(exc).__name__}: {exc}"[:200]) from exc
