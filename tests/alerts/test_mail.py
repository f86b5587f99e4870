"""The mailer against a real SMTP server on 127.0.0.1 (aiosmtpd): plain, AUTH, STARTTLS,
implicit TLS, and every way the server can refuse."""

from __future__ import annotations

import ssl

import pytest
from alerts_support import SMTP_PASSWORD, SMTP_USER, free_port, mail_settings

from vde.alerts.mail import build_message, preview, send_message
from vde.errors import MailError
from vde.models import Alert

# the test server accepts AUTH without TLS on purpose (plain local relay case)
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _alerts() -> list[Alert]:
    def a(kind, inst, summary, details):
        return Alert(f"{kind}:{inst}:2026-03-28", kind, inst, "2026-03-28", summary, details, "fp")

    return [
        a("sign", "CDB001", "production above +10 W on 12 slots", {"action": "flip PV <b>"}),
        a(
            "missing",
            "CDB002",
            "4.2 % of the day without power data",
            {
                "action": "no raw data from Mains",
                "periods": [
                    {
                        "start": "02:00:00",
                        "end": "03:00:00",
                        "duration": "1 h",
                        "sensors": ["Mains"],
                    }
                ],
            },
        ),
    ]


def _msg(settings):
    return build_message(
        _alerts(), sender=settings.smtp_sender, recipients=settings.smtp_recipients
    )


def _check_received(msg, settings):
    assert msg["Subject"] == "vde alerts: 2 problems in 2 installations (2026-03-28)"
    assert msg["From"] == "vde@vde.test"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for inst in ("CDB001", "CDB002"):
        assert inst in text and f">{inst}</td>" in html
    assert "02:00:00–03:00:00 (1 h): Mains" in text
    assert "flip PV &lt;b&gt;" in html  # escaped, never raw markup


def test_plain_smtp_without_auth(smtp_factory):
    srv = smtp_factory()
    settings = mail_settings(srv)
    send_message(_msg(settings), settings)
    assert len(srv.messages) == 1
    _check_received(srv.messages[0], settings)
    assert srv.handler.envelopes[0] == ("vde@vde.test", ["admin@vde.test", "ops@vde.test"])


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_with_auth(smtp_factory, security):
    srv = smtp_factory(auth=True, security=security)
    settings = mail_settings(
        srv, smtp_security=security, smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD
    )
    ctx = ssl.create_default_context(cafile=srv.cafile)
    send_message(_msg(settings), settings, ssl_context=ctx)
    assert len(srv.messages) == 1
    _check_received(srv.messages[0], settings)


def test_starttls_trusts_ssl_cert_file(smtp_factory, monkeypatch):
    """Deployments with a private CA point SSL_CERT_FILE at it: no code path needed."""
    srv = smtp_factory(auth=True, security="starttls")
    monkeypatch.setenv("SSL_CERT_FILE", srv.cafile)
    settings = mail_settings(
        srv, smtp_security="starttls", smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD
    )
    send_message(_msg(settings), settings)
    assert len(srv.messages) == 1


def test_untrusted_certificate_is_a_clear_error(smtp_factory):
    srv = smtp_factory(security="starttls")
    settings = mail_settings(srv, smtp_security="starttls")
    with pytest.raises(MailError, match=rf"127\.0\.0\.1:{srv.port}: TLS failed"):
        send_message(_msg(settings), settings)
    assert srv.messages == []


def test_auth_failure_names_host_port_and_user_never_the_password(smtp_factory, caplog, capsys):
    srv = smtp_factory(auth=True)
    settings = mail_settings(srv, smtp_user=SMTP_USER, smtp_password="wrong-" + SMTP_PASSWORD)
    with pytest.raises(MailError) as err:
        send_message(_msg(settings), settings)
    text = str(err.value)
    assert f"127.0.0.1:{srv.port}" in text and "authentication failed" in text
    assert SMTP_USER in text
    out = capsys.readouterr()
    for where in (text, repr(err.value), caplog.text, out.out, out.err):
        assert SMTP_PASSWORD not in where
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert srv.messages == []


def test_connection_refused():
    settings = mail_settings(None, smtp_host="127.0.0.1", smtp_port=free_port())
    with pytest.raises(MailError, match=r"via 127\.0\.0\.1:\d+: connection refused"):
        send_message(_msg(settings), settings)


def test_recipient_refused_even_partly_is_an_error(smtp_factory):
    srv = smtp_factory(refuse=("ops@vde.test",))
    settings = mail_settings(srv)
    with pytest.raises(MailError, match=r"recipient refused: ops@vde\.test \(550\)"):
        send_message(_msg(settings), settings)
    # every recipient refused: smtplib raises instead of returning
    srv2 = smtp_factory(refuse=("admin@vde.test", "ops@vde.test"))
    with pytest.raises(MailError, match="recipient refused: admin@vde.test"):
        send_message(_msg(settings), mail_settings(srv2))


def test_auth_required_but_no_user(smtp_factory):
    srv = smtp_factory(auth=True)
    settings = mail_settings(srv)
    with pytest.raises(MailError, match=rf"127\.0\.0\.1:{srv.port}: .*530"):
        send_message(_msg(settings), settings)


def test_not_configured():
    with pytest.raises(MailError, match="email is not configured"):
        send_message(_msg(mail_settings(None)), mail_settings(None))
    settings = mail_settings(None, smtp_host="127.0.0.1", smtp_recipients=[])
    with pytest.raises(MailError, match="no recipients"):
        send_message(_msg(settings), settings)
    settings = mail_settings(None, smtp_host="127.0.0.1", smtp_user="u")
    with pytest.raises(MailError, match="smtp_password is not"):
        send_message(_msg(settings), settings)


def test_preview_is_readable_text():
    settings = mail_settings(None)
    text = preview(_msg(settings))
    assert text.startswith("Subject: vde alerts: 2 problems in 2 installations (2026-03-28)\n")
    assert "To: admin@vde.test, ops@vde.test" in text
    assert "CDB002        missing data" in text and "<td" not in text
