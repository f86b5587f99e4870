"""`vde doctor` against real components: good settings pass, each broken part fails by name."""

from __future__ import annotations

import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner

from vde.cli import cli
from vde.processing.workbook import write_workbook
from vde.simulator import Fleet, serve_in_thread
from vde.storage import open_store
from vde.sync.importer import import_workbook

SMTP_PASSWORD = "smtp-pass-never-shown"


class _Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def _auth(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd replies 535


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def smtp():
    ctl = Controller(
        _Sink(),
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=_auth,
        auth_require_tls=False,
    )
    ctl.start()
    yield ctl
    ctl.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory, smtp):
    """A database with an imported fleet, the simulator serving it and an SMTP server.

    Shared by the module's tests: doctor only reads, so one set-up serves them all.
    """
    tmp_path = tmp_path_factory.mktemp("doctor")
    fleet = Fleet.generate(homes=2, seed=5, now_ts=1_790_000_000)
    wb = tmp_path / "fleet.xlsx"
    write_workbook(wb, fleet.config_rows(), fleet.access_rows(), fleet.captions())
    url = f"sqlite:///{tmp_path / 'vde.db'}"
    with open_store(url) as store:
        store.create_schema()
        import_workbook(store, wb)
    (tmp_path / "empty.toml").write_text("")
    with serve_in_thread(fleet) as sim:
        env = {
            "VDE_CONFIG": str(tmp_path / "empty.toml"),  # only the env below
            "VDE_DATABASE": url,
            "VDE_FLUKSO_API_URL": sim.url,
            "VDE_SMTP_HOST": "127.0.0.1",
            "VDE_SMTP_PORT": str(smtp.port),
            "VDE_SMTP_SECURITY": "none",
            "VDE_SMTP_USER": "alerts",
            "VDE_SMTP_PASSWORD": SMTP_PASSWORD,
            "VDE_SMTP_RECIPIENTS": "admin@example.org",
        }
        yield env, fleet


def doctor(env: dict, *args: str):
    return CliRunner().invoke(cli, ["doctor", *args], env=env)


def test_all_good(world):
    env, fleet = world
    r = doctor(env)
    assert r.exit_code == 0, r.stdout
    lines = r.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == ["PASS"] * 4, r.stdout
    assert "schema version" in r.stdout and "authenticated" in r.stdout
    assert SMTP_PASSWORD not in r.stdout
    assert not any(s.token in r.stdout for s in fleet.sensors)


def test_invalid_setting_is_named(world):
    env, _ = world
    r = doctor({**env, "VDE_SMTP_PORT": "not-a-port"})
    assert r.exit_code == 1
    assert r.stdout.startswith("FAIL") and "smtp_port" in r.stdout


def test_database_without_schema(world, tmp_path):
    env, _ = world
    r = doctor({**env, "VDE_DATABASE": f"sqlite:///{tmp_path / 'empty.db'}"})
    assert r.exit_code == 1
    assert "vde db create" in r.stdout


def test_unreachable_cassandra(world):
    env, _ = world
    r = doctor({**env, "VDE_DATABASE": f"cassandra://127.0.0.1:{_free_port()}/flukso"})
    assert r.exit_code == 1
    line = next(ln for ln in r.stdout.splitlines() if "database" in ln)
    assert line.startswith("FAIL"), r.stdout


def test_flukso_api_down(world):
    env, _ = world
    r = doctor({**env, "VDE_FLUKSO_API_URL": f"http://127.0.0.1:{_free_port()}"})
    assert r.exit_code == 1
    line = next(ln for ln in r.stdout.splitlines() if "flukso api" in ln)
    assert line.startswith("FAIL") and "unreachable" in line


def test_smtp_wrong_password_and_down(world):
    env, _ = world
    r = doctor({**env, "VDE_SMTP_PASSWORD": "wrong-password-xyz"})
    assert r.exit_code == 1
    assert "authentication refused" in r.stdout and "wrong-password-xyz" not in r.stdout
    r = doctor({**env, "VDE_SMTP_PORT": str(_free_port())})
    assert r.exit_code == 1
    line = next(ln for ln in r.stdout.splitlines() if ln.split()[1] == "smtp")
    assert line.startswith("FAIL"), r.stdout


def test_json_output(world):
    env, _ = world
    import json

    r = doctor(env, "--json")
    checks = json.loads(r.stdout)
    assert {c["name"] for c in checks} == {"settings", "database", "flukso api", "smtp"}


def test_flukso_api_checked_before_any_configuration(world, tmp_path):
    """A fresh database (no workbook yet): the API must still answer, or doctor fails."""
    env, _ = world
    empty = f"sqlite:///{tmp_path / 'fresh.db'}"
    with open_store(empty) as store:
        store.create_schema()
    r = doctor({**env, "VDE_DATABASE": empty})
    assert r.exit_code == 0, r.stdout
    line = next(ln for ln in r.stdout.splitlines() if "flukso api" in ln)
    assert line.startswith("PASS") and "no configuration imported yet" in line
    r = doctor({**env, "VDE_DATABASE": empty, "VDE_FLUKSO_API_URL": "http://127.0.0.1:1"})
    assert r.exit_code == 1, r.stdout
    line = next(ln for ln in r.stdout.splitlines() if "flukso api" in ln)
    assert line.startswith("FAIL") and "unreachable" in line
