"""``vde demo``: a whole community on this machine in one command.

Generates a demo fleet and its workbook, imports it, starts the Flukso simulator, backfills
the last days, gives a few logins a password and serves the dashboard with the periodic
sync and alerts. Everything lives in one folder; a second run reuses it (same fleet, same
data, only what is new is synced).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from vde.logs import get_logger
from vde.settings import Settings, load_settings
from vde.storage.base import Store
from vde.timeutil import now_ts, version_local

log = get_logger(__name__)

DEMO_SEED = 2026
STATE_FILE = "demo.json"
LOGINS_FILE = "demo-logins.txt"
LOG_FILE = "vde-demo.log"
ADMIN_LOGIN = "admin"


@dataclass
class DemoEnv:
    """What a running demo exposes (the CLI prints it; tests use it)."""

    folder: Path
    settings: Settings
    simulator_url: str
    logins: dict[str, str] = field(default_factory=dict)  # login -> demo password
    sync_summary: dict = field(default_factory=dict)


def _load_state(folder: Path, days: int, homes: int) -> dict:
    """The demo's fixed parameters: the fleet's start stays the same across runs."""
    path = folder / STATE_FILE
    if path.exists():
        return json.loads(path.read_text())
    state = {"seed": DEMO_SEED, "homes": homes, "start_ts": now_ts() - (days + 1) * 86400}
    path.write_text(json.dumps(state, indent=2))
    return state


def read_logins(folder: Path) -> dict[str, str]:
    """The demo's logins and passwords as kept in its folder (empty before the first run)."""
    path = folder / LOGINS_FILE
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if ":" in line:
                login, pw = line.split(":", 1)
                known[login.strip()] = pw.strip()
    return known


def format_logins(logins: dict[str, str]) -> list[str]:
    """One line per demo login: name, password, role."""
    return [
        f"  {login:<14} password {pw}   ({'administrator' if login == ADMIN_LOGIN else 'member'})"
        for login, pw in logins.items()
    ]


def _ensure_logins(store: Store, folder: Path, member_logins: list[str]) -> dict[str, str]:
    """Demo passwords, generated once and kept (0600) in the demo folder."""
    from vde.accounts import set_password, set_role

    path = folder / LOGINS_FILE
    known = read_logins(folder)
    wanted = [ADMIN_LOGIN, *member_logins]
    for login in wanted:
        known.setdefault(login, secrets.token_urlsafe(9))
        user = store.get_user(login)
        if user is None or user.password_hash is None:
            set_password(store, login, known[login])
            set_role(store, login, "admin" if login == ADMIN_LOGIN else "member")
    path.write_text("".join(f"{k}: {known[k]}\n" for k in wanted))
    path.chmod(0o600)
    return {k: known[k] for k in wanted}


@contextmanager
def prepare(
    folder: Path,
    *,
    database: str | None = None,
    days: int = 7,
    homes: int = 12,
    port: int = 8000,
    host: str = "127.0.0.1",
    sync_every: int = 60,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> Iterator[tuple[DemoEnv, Store]]:
    """Set the demo up (fleet, workbook, import, simulator, backfill, logins).

    Yields the environment and the open store while the simulator runs; both stop on exit.
    """
    from vde.processing.workbook import write_workbook
    from vde.simulator import Fleet, serve_in_thread
    from vde.storage import open_store
    from vde.sync.importer import import_workbook
    from vde.sync.pipeline import run_sync

    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    state = _load_state(folder, days, homes)
    database = database or f"sqlite:///{folder / 'vde.db'}"
    fleet = Fleet.generate(homes=state["homes"], seed=state["seed"], start_ts=state["start_ts"])
    workbook = folder / "Configuration.xlsx"
    write_workbook(workbook, fleet.config_rows(), fleet.access_rows(), fleet.captions())
    solar = sum(h.pv_kwp > 0 for h in fleet.home_specs)
    waiting = len(fleet.unequipped)
    groups = len(fleet.captions())
    echo(f"demo folder    {folder} (database, workbook, logins, log)")
    echo(
        f"1/4 community  {len(fleet.homes)} homes with meters ({solar} with solar panels), "
        f"{waiting} {'home' if waiting == 1 else 'homes'} awaiting their meters, "
        f"{groups} groups: {workbook.name}"
    )

    store = open_store(database)
    try:
        store.create_schema()
        result = import_workbook(store, workbook, progress=progress)
        if result.unchanged:
            echo("2/4 import     configuration unchanged since the last run")
        else:
            echo(
                "2/4 import     configuration imported "
                f"(version of {version_local(result.version_id)})"
            )
        with serve_in_thread(fleet, port=0) as sim:
            settings = load_settings(
                database=database,
                flukso_api_url=sim.url,
                block_cache=str(folder / "blocks.sqlite"),
                backfill_horizon=days * 86400,
                host=host,
                port=port,
                sync_every=sync_every,
                alerts_at="06:00",
            )
            echo(
                f"3/4 simulator  a local Flukso API at {sim.url} serves "
                f"{len(fleet.sensors)} simulated sensors"
            )
            first = store.sync_states() == {}
            echo(
                f"4/4 sync       fetching the last {days} days of every sensor (a minute or two)"
                if first
                else "4/4 sync       fetching only what is new since the last run"
            )
            report = run_sync(store, settings, progress=progress)
            summary = report.to_dict()
            members = [h for h in fleet.homes[:3]]
            env = DemoEnv(
                folder=folder,
                settings=settings,
                simulator_url=sim.url,
                logins=_ensure_logins(store, folder, members),
                sync_summary=summary,
            )
            yield env, store
    finally:
        store.close()


def print_alerts(store: Store, settings: Settings, echo: Callable[[str], None] = print) -> None:
    """Yesterday's checks, printed (the demo never sends mail)."""
    from vde.alerts.report import subject, text_report
    from vde.alerts.run import run_alerts

    result = run_alerts(store, settings, mode="all", dry_run=True)
    if not result.found:
        echo(f"{result.day}: no alert, every installation is complete and coherent")
        return
    echo(subject(result.found))
    echo(text_report(result.found))
