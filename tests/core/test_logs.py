"""Where log lines go: the file gets everything, the terminal warnings and status lines.

Each case runs in its own interpreter: logging is process-wide, and these tests must not
change it for the tests that run after them.
"""

from __future__ import annotations

import re
import subprocess
import sys

SCRIPT = """
import sys
from vde import logs
for kw in eval(sys.argv[1]):  # one configure call per dict, in order
    logs.configure(**kw)
log = logs.get_logger("vde.test")
log.info("sensor_synced", sensor_id="s1")
log.warning("sensor_failed", sensor_id="s2")
logs.status("sync: 2/3 sensors ok")
"""


def run(*calls: dict, **kw) -> str:
    args = repr(list(calls) or [kw])
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_with_a_log_file_the_terminal_gets_warnings_and_status_lines_only(tmp_path):
    path = tmp_path / "logs" / "vde.log"
    err = run(log_file=str(path))
    assert "sensor_synced" not in err
    assert "sensor_failed" in err
    assert re.search(r"^\d\d:\d\d:\d\d  sync: 2/3 sensors ok$", err, re.M), err
    text = path.read_text()
    for event in ("sensor_synced", "sensor_failed", "status"):
        assert f"event={event}" in text, text
    assert 'text="sync: 2/3 sensors ok"' in text


def test_verbose_shows_everything_on_the_terminal_too(tmp_path):
    path = tmp_path / "vde.log"
    err = run(log_file=str(path), verbose=True)
    assert "sensor_synced" in err and "sensor_failed" in err and "sync: 2/3" in err
    assert "sensor_synced" in path.read_text()


def test_without_a_file_a_service_keeps_every_line_on_stderr():
    """Not a terminal (systemd, a pipe): the journal must keep INFO lines."""
    err = run()
    assert "event=sensor_synced" in err and "event=sensor_failed" in err
    assert "event=status" in err


def test_an_explicit_level_applies_to_the_terminal(tmp_path):
    err = run(level="WARNING", log_file=str(tmp_path / "vde.log"))
    assert "sensor_failed" in err and "sensor_synced" not in err
    assert "sensor_synced" not in (tmp_path / "vde.log").read_text()


def test_a_command_keeps_the_entry_points_level_and_a_new_entry_point_resets_it(tmp_path):
    """`vde --log-level ERROR demo` keeps ERROR; a later command in the process does not."""
    log = tmp_path / "vde.log"
    err = run({"level": "ERROR"}, {"log_file": str(log), "keep": True})
    assert "sensor_failed" not in err and "sensor_failed" not in log.read_text()
    err = run({"level": "ERROR"}, {})  # the next invocation's entry point: back to INFO
    assert "event=sensor_synced" in err
