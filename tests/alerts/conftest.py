"""Fixtures of the alert tests (helpers live in ``alerts_support``)."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from datetime import date

import pytest
from alerts_support import (
    Collector,
    Day,
    SmtpServer,
    authenticator,
    free_port,
    make_day,
    write_day,
)


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(cert.pem, key.pem): a self-signed certificate for 127.0.0.1, made with openssl."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture
def smtp_factory(tls_cert: tuple[str, str]) -> Iterator:
    """make(auth=False, security="none", refuse=(), port=None) -> a started SmtpServer."""
    servers: list[SmtpServer] = []

    def make(
        *,
        auth: bool = False,
        security: str = "none",
        refuse: tuple[str, ...] = (),
        port: int | None = None,
        start: bool = True,
    ) -> SmtpServer:
        kwargs: dict = {}
        cafile = None
        if security in ("starttls", "tls"):
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*tls_cert)
            cafile = tls_cert[0]
            if security == "starttls":
                kwargs.update(tls_context=ctx, require_starttls=True)
            else:
                kwargs.update(ssl_context=ctx)
        if auth:
            kwargs.update(
                authenticator=authenticator,
                auth_required=True,
                # aiosmtpd cannot see implicit TLS (it wraps the socket before the SMTP
                # session) and would hide AUTH; over STARTTLS it insists on TLS first
                auth_require_tls=security == "starttls",
            )
        srv = SmtpServer(
            "127.0.0.1", port or free_port(), Collector(set(refuse)), cafile=cafile, kwargs=kwargs
        )
        servers.append(srv)
        return srv.start() if start else srv

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def day_store(store):
    """The ``store`` fixture plus a writer of synthetic days: ``day_store(day, **faults)``."""

    def write(day: date, **faults) -> Day:
        d = make_day(day, **faults)
        write_day(store, d)
        return d

    write.store = store  # type: ignore[attr-defined]
    return write
