"""The alert email: one multipart/alternative message (plain text + HTML), sent with smtplib.

Security modes (``smtp_security``): ``starttls`` (plain connection upgraded with STARTTLS,
usually port 587), ``tls`` (implicit TLS, usually 465) or ``none`` (local relays). The
certificate is checked against the system CAs (``SSL_CERT_FILE`` names another bundle).
Every smtplib/socket/ssl failure becomes one ``MailError`` naming host:port and the reason;
the password never appears in a message, a log line or an exception.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from vde.alerts.report import html_report, subject, text_report
from vde.errors import MailError
from vde.logs import get_logger
from vde.models import Alert
from vde.settings import Settings

log = get_logger(__name__)

TIMEOUT_S = 30.0


def build_message(
    alerts: Sequence[Alert], *, sender: str, recipients: Sequence[str]
) -> EmailMessage:
    """One email listing ``alerts``: a text/plain part and a text/html part (alternatives)."""
    msg = EmailMessage()
    msg["Subject"] = subject(alerts)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients) if recipients else "(no recipients configured)"
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="vde")
    msg.set_content(text_report(alerts))
    msg.add_alternative(html_report(alerts), subtype="html")
    return msg


def preview(msg: EmailMessage) -> str:
    """The message as a person reads it (headers and the plain-text part), for --dry-run."""
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    head = "".join(f"{k}: {msg[k]}\n" for k in ("Subject", "From", "To"))
    return head + "\n" + text


def _reason(exc: BaseException, settings: Settings) -> str:
    """A short reason for a send failure, with anything looking like the password removed."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        text = f"authentication failed for user '{settings.smtp_user}' ({exc.smtp_code})"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{r} ({c})" for r, (c, _m) in sorted(exc.recipients.items()))
        text = f"recipient refused: {refused}"
    elif isinstance(exc, smtplib.SMTPSenderRefused):
        text = f"sender {exc.sender!r} refused ({exc.smtp_code} {_msg(exc.smtp_error)})"
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"server replied {exc.smtp_code} {_msg(exc.smtp_error)}"
    elif isinstance(exc, smtplib.SMTPNotSupportedError):
        text = f"not supported by the server: {exc}"
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        text = f"server closed the connection ({exc or 'unexpectedly'})"
    elif isinstance(exc, ConnectionRefusedError):
        text = "connection refused"
    elif isinstance(exc, socket.gaierror):
        text = f"cannot resolve host ({exc.strerror})"
    elif isinstance(exc, TimeoutError):
        text = f"timed out after {TIMEOUT_S:g} s"
    elif isinstance(exc, ssl.SSLError):
        text = f"TLS failed ({exc.reason or exc})"
    else:
        text = f"{type(exc).__name__}: {exc}"
    pw = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
    return text.replace(pw, "***") if pw else text


def _msg(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def send_message(
    msg: EmailMessage, settings: Settings, *, ssl_context: ssl.SSLContext | None = None
) -> None:
    """Send ``msg`` to ``settings.smtp_recipients`` through ``settings.smtp_host``.

    Raises MailError (naming host:port, never the password) when email is not configured,
    the server is unreachable, TLS fails, authentication fails or a recipient is refused.
    Partial refusal counts as failure too: the alerts stay pending and are sent again.
    """
    host, port = settings.smtp_host, settings.smtp_port
    if not host:
        raise MailError("email is not configured: set smtp_host (env VDE_SMTP_HOST)")
    if not settings.smtp_recipients:
        raise MailError(
            "email has no recipients: set smtp_recipients (env VDE_SMTP_RECIPIENTS, comma-separated)"
        )
    if settings.smtp_user and settings.smtp_password is None:
        raise MailError("smtp_user is set but smtp_password is not (env VDE_SMTP_PASSWORD)")
    where = f"{host}:{port}"
    ctx = ssl_context or ssl.create_default_context()
    del msg["To"]
    msg["To"] = ", ".join(settings.smtp_recipients)
    try:
        if settings.smtp_security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_S, context=ctx)
        else:
            client = smtplib.SMTP(host, port, timeout=TIMEOUT_S)
        with client:
            if settings.smtp_security == "starttls":
                client.starttls(context=ctx)
            if settings.smtp_user:
                assert settings.smtp_password is not None
                client.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            refused = client.send_message(
                msg, from_addr=settings.smtp_sender, to_addrs=list(settings.smtp_recipients)
            )
    except (smtplib.SMTPException, OSError) as exc:
        reason = _reason(exc, settings)
        log.warning("alert_mail_failed", server=where, reason=reason)
        raise MailError(f"cannot send the alert email via {where}: {reason}") from None
    if refused:
        reason = _reason(smtplib.SMTPRecipientsRefused(refused), settings)
        log.warning("alert_mail_failed", server=where, reason=reason)
        raise MailError(f"cannot send the alert email via {where}: {reason}")
    log.info("alert_mail_sent", server=where, recipients=len(settings.smtp_recipients))
