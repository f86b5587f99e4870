"""``vde alerts``: CliRunner for the output, the real ``vde`` executable for exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from alerts_support import H1_MAINS, H1_PV, SMTP_PASSWORD, SMTP_USER, free_port, make_day, write_day
from click.testing import CliRunner

from vde.cli import cli
from vde.errors import MailError
from vde.storage import open_store

# Once, on SQLite: the storage operations of an alert run (put_alert, alerts, read_raw,
# read_power, missing, lock, load_config) are proven on both backends by the contract
# suite (tests/storage/test_contract.py: test_alerts, test_raw_*, test_power_*,
# test_missing_intervals_replace, test_lock_*, test_config_versions).
pytestmark = [
    pytest.mark.backends("sqlite"),
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

VDE = str(Path(sys.executable).with_name("vde"))
DAY = date(2026, 6, 20)


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict:
    """A clean settings environment: no vde.toml, no VDE_* from outside."""
    for k in list(os.environ):
        if k.startswith("VDE_"):
            monkeypatch.delenv(k)
    (tmp_path / "empty.toml").write_text("")  # no settings file of this machine leaks in
    monkeypatch.setenv("VDE_CONFIG", str(tmp_path / "empty.toml"))
    monkeypatch.setenv("VDE_SMTP_RECIPIENTS", "admin@vde.test")
    return {k: v for k, v in os.environ.items()}


@pytest.fixture
def faulty_db(store_url: str) -> str:
    with open_store(store_url) as store:
        write_day(store, make_day(DAY, outage=(H1_MAINS, 2, 3), flipped_pv=True))
    return store_url


def test_dry_run_prints_a_readable_report(faulty_db, env):
    res = CliRunner().invoke(cli, ["alerts", "--dry-run", "--day", "2026-06-20", "--db", faulty_db])
    assert res.exit_code == 0, res.output
    out = res.stdout
    # GRP only repeats H1's two problems: folded into them, one alert per cause
    assert out.startswith("Subject: vde alerts: 2 problems in 1 installation (2026-06-20)\n")
    assert "Installation  Check         Problem" in out  # one day: in the subject
    assert re.search(r"\nH1 +missing data +4\.2 % of the day without", out)
    assert "flip the sign of PV" in out and f"(sensor {H1_PV}) in" in out  # wrapped
    assert max(len(line) for line in out.splitlines()) <= 100
    assert f"02:00:00–03:00:00 (1 h): Mains (sensor {H1_MAINS})" in out
    assert "<td" not in out  # the text part, not HTML
    assert "dry run: 2 alert(s) would be sent; nothing sent or stored" in res.stderr
    with open_store(faulty_db) as store:
        assert store.alerts() == []


def test_json_output(faulty_db, env):
    res = CliRunner().invoke(
        cli,
        [
            "alerts",
            "--json",
            "--dry-run",
            "--mode",
            "sign",
            "--day",
            "2026-06-20",
            "--db",
            faulty_db,
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["day"] == "2026-06-20" and data["mode"] == "sign" and data["checked"] == 3
    assert sorted(data["to_send"]) == ["sign:H1:2026-06-20"]
    (alert,) = data["found"]
    assert alert["details"]["flip_sensor"] == H1_PV
    # the workbook edits that make the day coherent, in the home and in its group
    assert alert["fix"] == [
        {"installation": "H1", "sensor_id": H1_PV, "function": "PV", "column": "Prod",
         "from": 1, "to": -1},
        {"installation": "GRP", "sensor_id": H1_PV, "function": "H1 / PV", "column": "Prod",
         "from": 1, "to": -1},
    ]  # fmt: skip
    assert set(alert["fix_kwh"]) == {"cons", "prod", "tot"}
    assert alert["fix_kwh"]["prod"] < 0 < alert["fix_kwh"]["cons"]


def test_bad_day_is_a_usage_error(env):
    res = CliRunner().invoke(cli, ["alerts", "--day", "20-06-2026"])
    assert res.exit_code == 2 and "is not a date: use YYYY-MM-DD" in res.output


def test_not_configured_prints_the_report_and_fails(faulty_db, env):
    res = CliRunner().invoke(cli, ["alerts", "--day", "2026-06-20", "--db", faulty_db])
    assert isinstance(res.exception, MailError)
    assert "email is not configured" in str(res.exception)
    assert re.search(r"\nH1 +missing data", res.stdout)  # the report is printed
    assert "2 alert(s) NOT sent (kept pending)" in res.stderr
    proc = subprocess.run(
        [VDE, "alerts", "--day", "2026-06-20", "--db", faulty_db],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "error: 2 alert(s) not delivered, kept pending for the next run" in proc.stderr
    assert "email is not configured: set smtp_host" in proc.stderr


def test_smtp_down_then_up_through_the_executable(faulty_db, env, smtp_factory):
    port = free_port()
    env = {
        **env,
        "VDE_SMTP_HOST": "127.0.0.1",
        "VDE_SMTP_PORT": str(port),
        "VDE_SMTP_SECURITY": "none",
        "VDE_SMTP_USER": SMTP_USER,
        "VDE_SMTP_PASSWORD": SMTP_PASSWORD,
    }
    args = [VDE, "alerts", "--day", "2026-06-20", "--db", faulty_db]
    down = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert down.returncode == 1
    assert f"127.0.0.1:{port}: connection refused" in down.stderr
    assert SMTP_PASSWORD not in down.stderr + down.stdout
    srv = smtp_factory(auth=True, port=port)
    up = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert up.returncode == 0, up.stderr
    assert f"sent 2 alert(s) to 1 recipient(s) via 127.0.0.1:{port}" in up.stderr
    assert SMTP_PASSWORD not in up.stderr + up.stdout
    (msg,) = srv.messages
    assert "2 problems in 1 installation" in msg["Subject"]
    again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0 and "nothing to send" in again.stderr
    assert "2 already sent, not due again" in again.stderr
    assert len(srv.messages) == 1


def test_a_fixed_workbook_resolves_through_the_cli(store_url, env):
    """As a new user: a flipped PV is sent; after the fixed day is stored, `vde alerts`
    says how many alerts it resolved, and the history shows them resolved."""
    with open_store(store_url) as store:
        write_day(store, make_day(DAY, flipped_pv=True))
    args = ["alerts", "--mode", "sign", "--day", "2026-06-20", "--db", store_url]
    first = CliRunner().invoke(cli, args)  # email not configured: kept pending
    assert "1 alert(s) NOT sent (kept pending)" in first.stderr
    with open_store(store_url) as store:
        write_day(store, make_day(DAY), version_id=1_700_000_000_000_001)
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "nothing to send" in res.stderr and "1 resolved (no longer found)" in res.stderr
    again = CliRunner().invoke(cli, [*args, "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["resolved"] == []  # done once
    with open_store(store_url) as store:
        assert [a.status for a in store.alerts()] == ["resolved"]
