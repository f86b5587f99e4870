"""Researchers' API tokens: stored hashed on both backends, created / listed / revoked by
the CLI, and opening only the JSON and CSV endpoints of their installations (real app,
``Authorization: Bearer``)."""

from __future__ import annotations

import csv
import io
import json
import logging

import pytest
from click.testing import CliRunner
from export_support import START
from fastapi.testclient import TestClient

from vde.cli import cli
from vde.errors import NotFoundError
from vde.export.tokens import TokenError, create_token, revoke_token, token_hash, verify
from vde.models import ApiToken
from vde.settings import Settings
from vde.web.app import create_app


def test_tokens_are_stored_hashed_in_both_backends(store):
    from export_support import config

    store.save_config_version(config())
    token, record = create_token(store, "Dr. Lab", ["CDB001"], expires_ts=None)
    got = store.get_api_token(record.token_id)
    assert got == record and got.token_hash == token_hash(token)
    secret = token.split("_", 2)[2]
    assert all(secret not in str(v) for v in vars(got).values())  # only its sha256 is kept
    assert verify(store, token) == record
    assert verify(store, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    store.put_api_token(ApiToken("0123456789ab", "x" * 64, "old", ("CDB002",), 5, 10, None))
    assert [t.token_id for t in store.api_tokens()] == ["0123456789ab", record.token_id]
    revoke_token(store, record.token_id)
    assert verify(store, token) is None and store.get_api_token(record.token_id).revoked_ts
    with pytest.raises(NotFoundError):
        revoke_token(store, "ffffffffffff")
    with pytest.raises(TokenError, match="CDB999"):
        create_token(store, "Dr. Lab", ["CDB999"])


def test_expired_token_is_refused(fleet):
    token, record = create_token(fleet, "Temp", ["CDB002"], expires_ts=START)
    assert verify(fleet, token, now=START - 1) == record
    assert verify(fleet, token, now=START) is None


def _cli(*args: str):
    return CliRunner().invoke(cli, ["tokens", *args], catch_exceptions=False)


def test_cli_creates_lists_and_revokes_without_showing_the_token_again(fleet):
    made = _cli(
        "create",
        "--db",
        fleet.url,
        "--owner",
        "Researcher R",
        "--installations",
        "CDB001,CDB002",
        "--expires",
        "90d",
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("vde_")
    token_id = token.split("_")[1]
    listed = _cli("list", "--db", fleet.url, "--json")
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert rows[token_id]["installations"] == ["CDB001", "CDB002"]
    assert rows[token_id]["expires"] is not None and token not in listed.output
    assert token.split("_", 2)[2] not in _cli("list", "--db", fleet.url).output
    assert _cli("revoke", "--db", fleet.url, token_id).exit_code == 0
    after = {r["id"]: r for r in json.loads(_cli("list", "--db", fleet.url, "--json").stdout)}
    assert after[token_id]["revoked"] is not None
    assert verify(fleet, token) is None
    bad = CliRunner().invoke(
        cli, ["tokens", "create", "--db", fleet.url, "--owner", "X", "--installations", "NOPE"]
    )
    assert bad.exit_code != 0 and "NOPE" in str(bad.exception)


@pytest.fixture(scope="module")
def client(fleet):
    app = create_app(fleet, Settings(database="sqlite:///unused.db"))
    with TestClient(app) as c:
        yield c


def test_bearer_token_opens_json_and_csv_of_its_installations_only(fleet, client, caplog):
    caplog.set_level(logging.DEBUG)
    token, _ = create_token(fleet, "Notebook", ["CDB001"])
    auth = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/installations", headers=auth)
    assert me.status_code == 200
    assert [i["id"] for i in me.json()] == ["CDB001"]
    day = client.get("/api/installations/CDB001/raw.csv?day=2026-03-28&sep=comma", headers=auth)
    assert day.status_code == 200 and day.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(day.text)))
    assert len(rows) == 10800 - 450  # the day's rows, the hour without data absent
    assert (
        client.get("/api/installations/CDB002/raw.csv?day=2026-03-28", headers=auth).status_code
        == 404
    )
    assert client.get("/api/admin/users", headers=auth).status_code in (401, 403)
    assert client.get("/", headers=auth, follow_redirects=False).status_code != 200
    assert client.post("/logout", headers=auth, follow_redirects=False).status_code in (401, 403)
    wrong = {"Authorization": f"Bearer {token[:-2]}xx"}
    assert client.get("/api/installations", headers=wrong).status_code == 401
    revoke_token(fleet, token.split("_")[1])
    assert client.get("/api/installations", headers=auth).status_code == 401
    assert token not in caplog.text and token.split("_", 2)[2] not in caplog.text
