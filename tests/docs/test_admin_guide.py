"""docs/admin-guide.md runs: its bash blocks, in order, in an empty folder, on the simulator.

The blocks become one bash script (``set -euo pipefail``), so ``cd``, ``source`` and shell
variables carry from one block to the next as they do for a person typing them. A comment
``<!-- guide-test: ... -->`` right above a block says how to run it:

- ``background: ready=URL``: a server started with a trailing ``&``; its output goes to a
  file and the script waits until URL answers (any HTTP status) before the next block;
- ``skip: reason``: not run (it installs vde, or needs the reader's own servers).

The guide's fixed ports and install folder are replaced by free ports and this checkout;
HOME is the test's folder, so ``~/community`` is fresh.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "admin-guide.md"
INSTALL_DIR = "/srv/vde"
PORTS = ("8089", "8000")  # the simulator's and the dashboard's, as the guide writes them

_BLOCK = re.compile(r"(?:<!-- guide-test: (?P<mark>[^>]*?) -->\n)?```bash\n(?P<body>.*?)```", re.S)


@dataclass
class Block:
    line: int  # in the guide, for failure messages
    body: str
    mark: str = ""

    @property
    def skipped(self) -> bool:
        return self.mark.startswith("skip:")

    @property
    def ready_url(self) -> str | None:
        m = re.match(r"background: ready=(\S+)$", self.mark)
        return m.group(1) if m else None


def guide_blocks(text: str) -> list[Block]:
    return [
        Block(text.count("\n", 0, m.start("body")) + 1, m.group("body"), m.group("mark") or "")
        for m in _BLOCK.finditer(text)
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_script(blocks: list[Block], subst: dict[str, str], workdir: Path) -> str:
    """One bash script: each block announces its step; servers start in the background."""
    out = [
        "set -euo pipefail",
        'wait_url() { for _ in $(seq 1 600); do curl -s -o /dev/null "$1" && return 0; '
        "sleep 0.2; done; return 1; }",
    ]
    for i, b in enumerate(blocks):
        if b.skipped:
            continue
        body = b.body
        for old, new in subst.items():
            body = body.replace(old, new)
        out.append(f"echo '=== step {i} (docs/admin-guide.md line {b.line})'")
        if b.ready_url is None:
            out.append(body)
            continue
        lines = [ln for ln in body.splitlines() if ln.strip() and not ln.startswith("#")]
        assert len(lines) == 1 and lines[0].rstrip().endswith("&"), (
            f"line {b.line}: a background block is one command ending with '&'"
        )
        log = workdir / f"background-{i}.log"
        cmd = lines[0].rstrip()[:-1]
        out.append(f"{cmd} > {log} 2>&1 &")
        out.append(f"echo $! >> {workdir / 'background.pids'}")
        url = b.ready_url
        for old, new in subst.items():
            url = url.replace(old, new)
        out.append(f'wait_url {url} || {{ echo "not ready: {url}"; cat {log}; exit 1; }}')
    return "\n".join(out) + "\n"


def test_every_bash_block_is_run_or_says_why_not():
    blocks = guide_blocks(GUIDE.read_text())
    fences = GUIDE.read_text().count("```bash")
    assert len(blocks) == fences >= 8
    for b in blocks:
        assert not b.mark or b.skipped or b.ready_url, f"line {b.line}: unknown mark {b.mark!r}"
        assert not b.skipped or len(b.mark) > len("skip: ") + 5, f"line {b.line}: say why"


@pytest.mark.slow
def test_admin_guide_runs_end_to_end_on_the_simulator(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "run"
    work.mkdir()
    ports = {p: str(_free_port()) for p in PORTS}
    blocks = guide_blocks(GUIDE.read_text())
    script = build_script(blocks, {INSTALL_DIR: str(ROOT), **ports}, work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VDE_", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PATH="/usr/local/bin:/usr/bin:/bin")
    pids_file = work / "background.pids"
    try:
        proc = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        steps = re.findall(r"^=== (step .*)$", proc.stdout, re.M)
        where = steps[-1] if steps else "before the first step"
        assert proc.returncode == 0, (
            f"the guide failed at {where}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
        out = proc.stdout
        community = home / "community"
        # the workbook came from the simulator, so every sensor synced
        assert (community / "Configuration.xlsx").exists() and (community / "vde.db").exists()
        synced = re.search(r"vde sync \(auto\) — (\d+)/\1 sensors ok", out)
        assert synced, out[-3000:]
        n = int(synced.group(1))
        assert "only one configuration version" in out
        assert re.search(r"imported \(Europe/Brussels\)", out)
        # the invite link uses public_url, with the test's dashboard port
        dash = f"http://127.0.0.1:{ports['8000']}"
        assert re.search(rf"^{re.escape(dash)}/invite\?login=CDB001&token=\S+$", out, re.M)
        # the administrator's password, given by a step, opens the admin page
        password = re.search(r"^admin password: (\S+)$", out, re.M).group(1)
        with httpx.Client(base_url=dash, timeout=30) as c:
            page = c.get("/login").text
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
            r = c.post(
                "/login",
                data={"login": "admin", "password": password, "csrf_token": csrf, "next": "/"},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
            assert c.get("/admin").status_code == 200

        # `vde serve --sync-every 5m` synced at start (this wait is far shorter than 5 min)
        # and said so in one line on the terminal; its log went to the file
        def background_output() -> str:
            return "".join(p.read_text() for p in sorted(work.glob("background-*.log")))

        deadline = time.monotonic() + 120
        while "sensors ok" not in background_output() and time.monotonic() < deadline:
            time.sleep(0.5)
        serve_out = background_output()
        status = rf"\d\d:\d\d:\d\d  sync: {n}/{n} sensors ok, \d+ new rows, [\d.]+ s"
        assert re.search(status, serve_out), serve_out[-2000:]
        assert "sync_sensor" not in serve_out and "sync_done" not in serve_out
        log_text = (community / "vde.log").read_text()
        assert "sync_done" in log_text and log_text.count("sync_sensor") >= n
    finally:
        if pids_file.exists():
            _stop(map(int, pids_file.read_text().split()))


def _stop(pids, timeout: float = 30) -> None:
    """SIGTERM (a non-interactive shell starts background jobs with SIGINT ignored)."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
            alive.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in alive if _running(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child; it is not, usually
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
