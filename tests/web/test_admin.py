"""The administrators' figures that are computed, not just listed."""

from __future__ import annotations

import pytest

from vde.models import MissingInterval
from vde.web.admin import missing_share
from vde.web.i18n import LANGUAGES


def _m(a: int, b: int) -> MissingInterval:
    return MissingInterval("s", a, b, b)


@pytest.mark.parametrize(
    ("intervals", "last_ts", "expected"),
    [
        ([], 992, 0.0),  # data up to the last slot: nothing missing
        ([], None, 1.0),  # never synced: everything missing
        ([_m(100, 200)], 992, 0.1),
        ([_m(100, 300), _m(200, 400)], 992, 0.3),  # overlaps count once
        ([_m(-500, 100)], 992, 0.1),  # clipped to the day
        ([_m(100, 200)], 492, 0.6),  # plus the tail after the last data
        ([_m(600, 900)], 492, 0.5),  # inside the tail: counted once
    ],
)
def test_missing_share(intervals, last_ts, expected):
    assert missing_share(intervals, last_ts, 0, 1000) == pytest.approx(expected)


# --- health summary, alert lifecycle, invitation links -------------------------------------

NOW = 1_800_000_000


def _row(sensor, insts, last_ts, error=None, attempt=None, success=None):
    return {
        "sensor_id": sensor,
        "installations": insts,
        "last_ts": last_ts,
        "last_error": error,
        "last_attempt_ts": attempt,
        "last_success_ts": success,
    }


def test_health_summary_worst_sensor_wins():
    from vde.web.admin import health_summary

    sync = [
        _row("a", ["H1", "G"], NOW - 600, success=NOW - 300),
        _row("b", ["H2", "G"], NOW - 7200, success=NOW - 200),  # late data: stale
        _row("c", ["H3"], NOW - 60, error="timeout", attempt=NOW - 30, success=NOW - 900),
        _row("d", ["H4"], NOW - 60, error="old failure", attempt=NOW - 900, success=NOW - 30),
    ]
    alerts = [{"status": s} for s in ("pending", "sent", "acknowledged", "resolved", "pending")]
    h = health_summary(sync, alerts, now=NOW)
    assert h["ok"] == 2  # H1 and H4 (its error was followed by a success)
    assert h["stale"] == ["G", "H2"] and h["failing"] == ["H3"]
    assert h["last_sync_ts"] == NOW - 30
    assert h["open_alerts"] == 3 and h["pending_alerts"] == 2


@pytest.fixture(scope="module")
def admin_site(seeded):
    from fastapi.testclient import TestClient

    from vde.models import Alert, SyncState
    from vde.settings import Settings
    from vde.web.app import create_app

    from .conftest import login

    seeded.put_sync_state(SyncState("s1a", last_ts=NOW, last_success_ts=NOW))
    seeded.put_sync_state(SyncState("removed-sensor", last_ts=NOW, last_error="gone"))
    seeded.put_alert(
        Alert("missing:CDB001:2026-06-15", "missing", "CDB001", "2026-06-15", "1 h", {}, "f1")
    )
    settings = Settings(database="sqlite:///unused.db", public_url="https://vde.example.org/")
    app = create_app(seeded, settings)
    with TestClient(app) as root, TestClient(app) as alice:
        yield seeded, login(root, "root"), login(alice, "alice")


def test_admin_page_lists_current_sensors_health_and_translated_alerts(admin_site):
    _, root, _ = admin_site
    page = root.get("/admin?lang=fr").text
    assert 'id="health"' in page and "Dernière synchronisation réussie" in page
    assert "removed-" not in page  # a sensor no longer in the configuration is not listed
    assert "Données manquantes" in page and "à envoyer" in page  # kind and status in French
    assert "administrateur" in page and "membre" in page  # roles in French
    page_nl = root.get("/admin?lang=nl").text
    assert "Ontbrekende gegevens" in page_nl and "beheerder" in page_nl
    root.get("/admin?lang=fr")


def test_config_lint_warnings_are_in_the_pages_language(admin_site):
    """The seeded homes count their PV in Network beside a grid clamp: the warning is
    translated, names the sensors (with their home inside a group) and the fix."""
    import html

    _, root, _ = admin_site
    pages = {lang: html.unescape(root.get(f"/admin?lang={lang}").text) for lang in LANGUAGES}
    root.get("/admin?lang=fr")
    assert "PV compté dans Network" in pages["fr"] and "videz Network pour PV" in pages["fr"]
    assert "CDB001 / PV et CDB002 / PV compté dans Network" not in pages["fr"]  # one per home
    assert "CDB001 / PV compté dans Network" in pages["fr"]
    assert "PV meegeteld in Network" in pages["nl"] and "maak Network leeg" in pages["nl"]
    assert "PV counted in Network" in pages["en"]
    for lang in ("fr", "nl"):
        assert "counted in Network" not in pages[lang], lang
    # numbers with the page's decimal mark: sensors never synced miss all of today
    assert "100,0 %" in pages["fr"] and "100,0 %" in pages["nl"] and "100.0 %" in pages["en"]
    assert "100.0 %" not in pages["fr"]


def test_page_numbers_use_the_languages_decimal_mark():
    from vde.web.render import number

    assert [number(v, 2, "fr") for v in (1.005, -0.001, 1234.5)] == ["1,00", "0,00", "1234,50"]
    assert [number(v, 1, "en") for v in (2.25, -0.04, -1.26)] == ["2.2", "0.0", "-1.3"]
    assert number(None, 1, "nl") == number(float("nan"), 1, "nl") == "–"


def test_acknowledge_moves_an_alert_out_of_the_open_ones(admin_site):
    from .conftest import csrf

    store, root, alice = admin_site
    url = "/admin/alerts/missing:CDB001:2026-06-15/ack"
    assert alice.post(url, data={"csrf_token": csrf(alice)}).status_code == 403
    assert root.post(url, data={}, follow_redirects=False).status_code == 403  # no CSRF token
    r = root.post(url, data={"csrf_token": csrf(root)}, follow_redirects=False)
    assert r.status_code == 303
    (a,) = [a for a in store.alerts() if a.alert_id == "missing:CDB001:2026-06-15"]
    assert a.status == "acknowledged"
    assert "vue" in root.get("/admin?lang=fr").text
    r = root.post("/admin/alerts/nope/ack", data={"csrf_token": csrf(root)})
    assert r.status_code == 404


def test_invite_link_uses_public_url_and_opens_the_invite_page(admin_site):
    import re

    from .conftest import csrf

    store, root, _ = admin_site
    r = root.post("/admin/users/carol/invite", data={"csrf_token": csrf(root)})
    assert r.status_code == 200
    m = re.search(
        r'value="https://vde\.example\.org/invite\?login=carol&amp;token=([^"]+)"', r.text
    )
    assert m, "no invitation link built from public_url"
    token = m.group(1)
    assert root.get(f"/invite?login=carol&token={token}").status_code == 200
    assert root.get("/invite?login=carol&token=wrong").status_code == 404
    # a login that has a password gets a reset link the same way
    r = root.post("/admin/users/alice/invite", data={"csrf_token": csrf(root)})
    assert "login=alice" in r.text
    assert (
        root.post("/admin/users/nobody/invite", data={"csrf_token": csrf(root)}).status_code == 404
    )
