"""Database URL parsing and opening errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from vde.errors import StorageError
from vde.storage import open_store, parse_url, redact_url


def test_sqlite_relative_and_absolute():
    assert parse_url("sqlite:///vde.db").path == Path("vde.db")
    assert parse_url("sqlite:///data/vde.db").path == Path("data/vde.db")
    assert parse_url("sqlite:////abs/path/vde.db").path == Path("/abs/path/vde.db")
    assert parse_url("sqlite:////abs/path/vde.db").redacted == "sqlite:////abs/path/vde.db"


def test_cassandra_full_url_and_redaction():
    u = parse_url(
        "cassandra://ann:s3cret@h1,h2:9142/ks1?replication_factor=3&consistency=local_quorum"
    )
    assert u.hosts == ("h1", "h2") and u.port == 9142 and u.keyspace == "ks1"
    assert u.username == "ann" and u.password == "s3cret"
    assert u.replication() == {"class": "SimpleStrategy", "replication_factor": 3}
    assert u.consistency() == "LOCAL_QUORUM"
    assert "s3cret" not in u.redacted and "s3cret" not in repr(u)
    assert u.redacted.startswith("cassandra://ann:***@h1,h2:9142/ks1")


def test_cassandra_defaults_and_nts():
    u = parse_url("cassandra://localhost")
    assert (u.hosts, u.port, u.keyspace) == (("localhost",), 9042, "flukso")
    assert u.replication() == {"class": "SimpleStrategy", "replication_factor": 1}
    n = parse_url("cassandra://h/ks?replication=NetworkTopologyStrategy&dc1=3&dc2=2")
    assert n.replication() == {"class": "NetworkTopologyStrategy", "dc1": 3, "dc2": 2}
    assert parse_url("cassandra://h/ks?ssl=true&ca=/x.pem").flag("ssl")


@pytest.mark.parametrize(
    "url",
    [
        "vde.db",
        "postgres://h/db",
        "sqlite://",
        "sqlite:///",
        "cassandra:///ks",
        "cassandra://h:notaport/ks",
        "cassandra://h/ks?bogus=1",
        "cassandra://h/ks?replication_factor=zero",
        "cassandra://h/ks?consistency=MOST",
        "cassandra://h/ks?replication=NetworkTopologyStrategy",
        "cassandra://h/bad-keyspace",
    ],
)
def test_bad_urls_raise_storage_error(url):
    with pytest.raises(StorageError):
        parse_url(url)


def test_password_never_in_errors():
    with pytest.raises(StorageError) as exc:
        parse_url("cassandra://ann:s3cret@h/ks?bogus=1")
    assert "s3cret" not in str(exc.value)
    assert "s3cret" not in redact_url("cassandra://ann:s3cret@h:x/ks")
    assert "s3cret" not in redact_url("cassandra://ann:s3cret@h/ks")


def test_sqlite_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path}/no/such/dir/vde.db")


def test_sqlite_relative_path_is_in_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///rel.db") as s:
        s.create_schema()
    assert (tmp_path / "rel.db").exists()


def test_read_before_create_is_a_storage_error(tmp_path):
    with open_store(f"sqlite:///{tmp_path}/x.db") as s:
        assert s.schema_version() is None
        with pytest.raises(StorageError):
            s.read_raw("s1", 0, 10)


@pytest.mark.parametrize(
    "url",
    [
        "cassandra://ann:s3cret@h:abc/ks",
        "cassandra://h/ks?password=s3cret&bogus=1",
        "cassandra://ann:s3cret@h/bad-ks",
        "cassandra:/ann:s3cret@h/ks",  # malformed scheme: not parsed at all
        "cassandra://ann:s3c@ret@h:99999/ks",  # '@' inside the password
        "cassandra://ann:s3cret@h/ks?replication=Bogus",
        "cassandra://h/ks?password=s3cret&consistency=BAD",
        "cassandra://h/ks?timeout=abc&password=s3cret",
        "cassndra://ann:s3cret@h/ks",
        "sqlite://ann:s3cret@h/x?y",
    ],
)
def test_password_masked_in_every_url_error(url: str) -> None:
    with pytest.raises(StorageError) as exc:
        parse_url(url)
    message = str(exc.value)
    assert "s3c" not in message and "ret@h" not in message
    assert "s3c" not in redact_url(url)


def test_password_masked_when_cassandra_cannot_be_reached_or_tls_files_are_missing() -> None:
    for url in (
        "cassandra://ann:s3cret@127.0.0.1:1/ks",
        "cassandra://ann:s3cret@127.0.0.1:1/ks?ssl=true&ca=/nonexistent.pem",
    ):
        with pytest.raises(StorageError) as exc:
            open_store(url, connect_timeout=2)
        assert "s3cret" not in str(exc.value) and "ann:***@" in str(exc.value)
