"""``vde serve --export-at``: the scheduled export job (PeriodicTasks), and the deploy units."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from export_support import HOMES

from vde.errors import SettingsError
from vde.export.job import scheduled_job
from vde.settings import load_settings
from vde.web.tasks import PeriodicTasks

ROOT = Path(__file__).resolve().parents[2]


def test_serve_schedules_the_export_and_it_sends_only_what_is_new(fleet, tmp_path):
    out = tmp_path / "partner"
    settings = load_settings(
        database="sqlite:///unused.db",
        export_at="02:30",
        export_to=str(out),
        export_format="parquet",
        export_resolution="1d",
    )
    tasks = PeriodicTasks(fleet, settings)

    mtimes: list[dict] = []

    async def main() -> list[str]:
        tasks.start()  # the daily loop is spawned (it waits for 02:30)
        names = [t.get_name() for t in tasks._tasks]
        ran = await tasks.run_once("export", lambda: scheduled_job(fleet, settings))
        mtimes.append({p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")})
        again = await tasks.run_once("export", lambda: scheduled_job(fleet, settings))
        mtimes.append({p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")})
        await tasks.stop()
        return [*names, str(ran), str(again)]

    names = anyio.run(main)
    assert names == ["vde-export", "True", "True"] and tasks.runs["export"] == 2
    doc = json.loads((out / "manifest.json").read_text())
    # from each home's first day (no mark yet) to today: one month file, cut at its start
    assert [e["file"] for e in doc["files"]] == [
        f"{h}_20260328T0000-20260401T0000_1d.parquet" for h in HOMES
    ]
    assert [e["rows"] for e in doc["files"]] == [3, 3]
    # the second run found nothing new: no file was written again
    assert mtimes[0] == mtimes[1] and len(mtimes[0]) == len(HOMES)


def test_a_bad_export_time_is_refused():
    with pytest.raises(SettingsError, match="export_at"):
        load_settings(database="sqlite:///unused.db", export_at="25:00")


def test_deploy_has_an_export_service_and_timer():
    service = (ROOT / "deploy" / "vde-export.service").read_text()
    timer = (ROOT / "deploy" / "vde-export.timer").read_text()
    assert "vde export --since last" in service and "\nUMask=0077\n" in service
    assert "OnCalendar=" in timer and "Persistent=true" in timer
