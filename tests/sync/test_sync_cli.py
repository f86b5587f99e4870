"""``vde sync`` as people and cron run it: CLI exit codes, JSON, lock, SIGKILL and resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from syncenv import cli_env as _env
from syncenv import prepare_store as _prepare
from syncenv import sim_env, snapshot

from vde.cli import cli
from vde.simulator import Faults, Fleet, serve_in_thread
from vde.storage import open_store

H = 3600
T0 = 1_790_000_000 - 1_790_000_000 % 86400


def test_cli_json_exit_codes_and_no_token(store_url, tmp_path):
    f = Fleet.generate(homes=2, seed=0, start_ts=T0, now_ts=T0 + 3 * H)
    _prepare(store_url, f)
    bad = f.sensors[1]
    runner = CliRunner()
    with serve_in_thread(f, faults=Faults(wrongtoken=frozenset({bad.sensor_id}))) as srv:
        env = _env(tmp_path, store_url, srv.url)
        args = ["sync", "--json", "--now", str(f.now)]
        res = runner.invoke(cli, args, env=env)
        assert res.exit_code == 1, res.output
        out = json.loads(res.stdout)
        assert out["ok"] is False and out["sensors_failed"] == 1
        failed = [s for s in out["sensor_reports"] if not s["ok"]]
        assert failed[0]["sensor_id"] == bad.sensor_id and "401" in failed[0]["reason"]
        assert bad.token not in res.output
        # the summary table for people
        res = runner.invoke(cli, ["sync", "--now", str(f.now), "--no-progress"], env=env)
        assert res.exit_code == 1
        assert (
            "FAILED" in res.stdout and bad.sensor_id in res.stdout and bad.token not in res.output
        )
    with serve_in_thread(f) as srv:
        env = _env(tmp_path, store_url, srv.url)
        res = runner.invoke(cli, ["sync", "--json", "--now", str(f.now)], env=env)
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["ok"] is True
        # a held lock: exit code 3 and a clear message
        with open_store(store_url) as other:
            assert other.try_lock("sync", 600)
            try:
                res = runner.invoke(cli, ["sync", "--now", str(f.now)], env=env)
            finally:
                other.release_lock("sync")
        assert res.exit_code == 3
        assert "another sync is running" in res.output
        res = runner.invoke(cli, ["sync", "--until", "1d"], env=env)
        assert res.exit_code != 0 and "--until needs --since" in res.output


def _count(db_url: str, what: str) -> int:
    with open_store(db_url) as s:
        if what == "raw":
            return len(s.raw_sensors())
        return len(s.power_installations())


@pytest.mark.slow
@pytest.mark.parametrize("kill_when", ["raw", "power"])
def test_sigkill_mid_sync_then_resume_equals_clean_run(store_url, tmp_path, kill_when):
    f = Fleet.generate(homes=2, seed=0, start_ts=T0, now_ts=T0 + 20 * H)
    _prepare(store_url, f)
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    _prepare(clean_url, f)
    with serve_in_thread(f, faults=Faults(latency=0.15)) as slow, serve_in_thread(f) as fast:
        cmd = [sys.executable, "-m", "vde.cli", "sync", "--now", str(f.now), "--no-progress"]
        env = _env(tmp_path, store_url, slow.url, VDE_FLUKSO_CONCURRENCY="2")
        proc = subprocess.Popen(
            cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if _count(store_url, kill_when) > 0:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the sync ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        with open_store(store_url) as s:
            # the resume point is written last: nothing claims to be synced yet
            assert all(st.last_ts is None for st in s.sync_states().values())
        # run again (the dead holder's lock is taken over), and a clean run elsewhere
        env = _env(tmp_path, store_url, fast.url)
        again = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, timeout=300)
        assert again.returncode == 0, again.stderr.decode()[-2000:]
        clean_env = _env(tmp_path / "c", clean_url, fast.url)
        (tmp_path / "c").mkdir()
        clean = subprocess.run(cmd, env=clean_env, cwd=tmp_path, capture_output=True, timeout=300)
        assert clean.returncode == 0, clean.stderr.decode()[-2000:]
    with open_store(store_url) as a, open_store(clean_url) as b:
        cfg = a.load_config()
        assert snapshot(a, cfg) == snapshot(b, cfg)
        assert len(a.read_power("CDBZ01", 0, 2**40)) > 0


def test_sync_cli_rewrites_a_manual_window(store_url, tmp_path):
    f = Fleet.generate(homes=2, seed=0, start_ts=T0, now_ts=T0 + 6 * H)
    _prepare(store_url, f)
    runner = CliRunner()
    with open_store(store_url) as s, sim_env(s, tmp_path, f) as env:
        env.sync()
        good = snapshot(s, env.config)
        sid = f.sensors[0].sensor_id
        s.delete_raw(sid, T0 + H, T0 + 2 * H)
        cli_env = _env(tmp_path, store_url, env.url)
        since, until = T0 + H // 2, T0 + 3 * H
        res = runner.invoke(
            cli,
            ["sync", "--since", str(since), "--until", str(until), "--now", str(f.now), "--json"],
            env=cli_env,
        )
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert out["mode"] == "manual" and out["raw_rows"] > 0
        assert snapshot(s, env.config) == good
