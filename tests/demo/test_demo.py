"""`vde demo` as a newcomer runs it: a subprocess that comes up, serves data, logs in, stops."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from vde.processing.workbook import read_workbook

VDE = [sys.executable, "-m", "vde.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A subprocess whose stdout is collected line by line in a thread."""

    def __init__(self, args: list[str], cwd: Path, env: dict | None = None) -> None:
        self.lines: list[str] = []
        self.p = subprocess.Popen(
            args,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if m := rx.search(line):
                    return m
            if self.p.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} not seen; output:\n" + "\n".join(self.lines[-60:]))

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            return self.p.wait(timeout)
        finally:
            self._t.join(5)

    def text(self) -> str:
        return "\n".join(self.lines)


def login(client: httpx.Client, user: str, password: str) -> None:
    page = client.get("/login").text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    r = client.post(
        "/login",
        data={"login": user, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


@pytest.mark.slow
def test_demo_comes_up_serves_data_and_stops_cleanly(tmp_path):
    port = free_port()
    folder = tmp_path / "demo"
    demo = Proc(
        [
            *VDE,
            "demo",
            "--folder",
            str(folder),
            "--port",
            str(port),
            "--days",
            "1",
            "--homes",
            "4",
            "--sync-every",
            "5",
        ],
        cwd=tmp_path,
    )
    try:
        demo.wait_for(r"Press Ctrl-C to stop", timeout=420)
        # quiet: one status line per background sync (the first at start), never a log line
        # per sensor; the log goes to the demo folder's file
        demo.wait_for(r"\d\d:\d\d:\d\d  sync: \d+/\d+ sensors ok", timeout=120)
        out = demo.text()
        assert "sync_sensor" not in out and "sync_done" not in out, out
        log_text = (folder / "vde-demo.log").read_text()
        assert "sync_sensor" in log_text and "sync_done" in log_text
        # the steps in words, the version as a local date-time (not a µs id)
        assert re.search(r"configuration imported \(version of \d{4}-\d\d-\d\d \d\d:", out), out
        assert "4/4 sync" in out and "awaiting their meters" in out
        assert f"http://127.0.0.1:{port}/" in out
        admin_pw = re.search(r"^\s+admin\s+password (\S+)", out, re.M).group(1)
        member, member_pw = re.search(r"^\s+(CDB\d{3})\s+password (\S+)", out, re.M).groups()
        assert "alerts for yesterday" in out
        # sensor tokens are secrets: none of the workbook's appears in the output
        tokens = {r.token for r in read_workbook(folder / "Configuration.xlsx").rows}
        assert len(tokens) > 4 and not any(t in out for t in tokens)

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            login(c, member, member_pw)
            items = c.get("/api/installations").json()
            ids = {i["id"] for i in items}
            assert member in ids and any(i.startswith("CDBA") for i in ids), ids
            r = c.get(f"/api/installations/{member}/series", params={"period": "day"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["has_data"], "the demo dashboard shows no data today"
            assert body["totals"]["consumed_kwh"] > 0
            # another member's home is not visible
            others = {f"CDB{i:03d}" for i in range(1, 5)} - {member}
            assert c.get(f"/api/installations/{sorted(others)[0]}/series").status_code == 404
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            login(c, "admin", admin_pw)
            assert c.get("/admin").status_code == 200
    finally:
        code = demo.stop(signal.SIGINT)
    assert code == 0, demo.text()[-3000:]
    assert "demo stopped" in demo.text()

    # Running it again reuses the data: same configuration, only new data synced.
    again = Proc([*VDE, "demo", "--folder", str(folder), "--no-serve", "--days", "1"], cwd=tmp_path)
    assert again.p.wait(300) == 0, again.text()[-3000:]
    assert "configuration unchanged" in again.text()
    # the logins stay at hand: `vde demo --logins` prints them again
    shown = subprocess.run(
        [*VDE, "demo", "--folder", str(folder), "--logins"], capture_output=True, text=True
    )
    assert shown.returncode == 0 and f"admin          password {admin_pw}" in shown.stdout
    first_rows = int(re.search(r"synced .* (\d+) raw rows", out).group(1))
    second_rows = int(re.search(r"synced .* (\d+) raw rows", again.text()).group(1))
    assert second_rows < first_rows / 10, (first_rows, second_rows)


@pytest.mark.backends("cassandra")
def test_demo_on_cassandra(tmp_path, store_url):
    """`vde demo --cassandra URL` sets up, syncs and reports on Cassandra like on SQLite.

    On the session's emptied keyspace (``store_url``): the demo's ``create_schema`` finds the
    tables there (a new keyspace costs seconds to create and to drop).
    """
    from vde.storage import open_store

    args = [*VDE, "demo", "--folder", str(tmp_path / "d"), "--cassandra", store_url]
    demo = Proc([*args, "--no-serve", "--days", "1", "--homes", "2"], cwd=tmp_path)
    assert demo.p.wait(600) == 0, demo.text()[-3000:]
    assert re.search(r"synced\s+\d+ sensors ok, 0 failed, [1-9]\d* raw rows", demo.text())
    with open_store(store_url) as store:
        assert store.backend == "cassandra"
        config = store.load_config()
        assert config is not None and len(config.installations()) >= 3
        home = config.installations()[0]
        bounds = store.power_bounds(home)
        assert bounds is not None and bounds[1] - bounds[0] > 12 * 3600
        assert store.get_user("admin").role == "admin"
