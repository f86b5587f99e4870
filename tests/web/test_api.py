"""The JSON API against a seeded store: authorized, unauthorized, other member's data, bad
parameters; and what the numbers say."""

from __future__ import annotations

import csv
import io

import pytest

from vde.timeutil import local_day_bounds

from .conftest import DAY, GAP, GROUP, PASSWORDS, token_of

D = DAY.isoformat()
INSTALLATION_ENDPOINTS = [
    f"/api/installations/{{i}}/series?period=day&date={D}",
    f"/api/installations/{{i}}/totals?period=day&date={D}",
    f"/api/installations/{{i}}/series.csv?period=day&date={D}",
    f"/api/installations/{{i}}/raw.csv?day={D}",
    "/api/installations/{i}/live",
]
ADMIN_ENDPOINTS = [
    "/api/admin/sync",
    "/api/admin/alerts",
    "/api/admin/installations",
    "/api/admin/users",
]
ALL_ENDPOINTS = (
    ["/api/me", "/api/installations"]
    + [e.format(i="CDB001") for e in INSTALLATION_ENDPOINTS]
    + ADMIN_ENDPOINTS
)


@pytest.mark.parametrize("url", ALL_ENDPOINTS)
def test_every_api_endpoint_needs_a_session(anon, url):
    r = anon.get(url)
    assert r.status_code == 401
    assert r.json() == {"detail": "Connectez-vous d'abord.", "code": "login_required"}


@pytest.mark.parametrize("url", ["/", "/i/CDB001", "/admin"])
def test_pages_redirect_to_login_without_session(anon, url):
    r = anon.get(url, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")


def test_openapi_describes_the_api(anon):
    spec = anon.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert "/api/installations/{installation_id}/series" in paths
    assert "/api/admin/sync" in paths
    assert not any(p.startswith("/login") for p in paths)  # pages are not API


@pytest.mark.parametrize(
    "url", ["/login", "/api/me", "/static/css/vde.css", "/nope", "/openapi.json"]
)
def test_security_headers_on_every_response(anon, url):
    h = anon.get(url).headers
    assert "script-src 'self'" in h["content-security-policy"]
    assert "'unsafe-inline'" not in h["content-security-policy"]
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert h["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("endpoint", INSTALLATION_ENDPOINTS)
@pytest.mark.parametrize("other", ["CDB002", "CDB003", "NOPE42", "CDBA09"])
def test_other_members_installation_is_404_like_a_missing_one(alice, endpoint, other):
    r = alice.get(endpoint.format(i=other))
    assert r.status_code == 404
    assert r.json()["code"] == "no_installation"
    assert r.json()["detail"] == "Cette installation n'existe pas ou ne vous est pas accessible."


def test_compare_with_a_group_not_visible_is_404_and_with_a_home_422(alice, app):
    assert alice.get(f"/api/installations/CDB001/series?date={D}&compare=CDBA09").status_code == 404
    r = alice.get(f"/api/installations/CDB001/series?date={D}&compare=CDB001")
    assert r.status_code == 422
    assert r.json()["code"] == "not_a_group"
    assert r.json()["detail"].startswith("« CDB001 » n'est pas un groupe de logements")


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ("start=2026-06-15", "range_both", "Give both start and end, or period and date."),
        ("start=abc&end=2026-06-16", "bad_instant", "'abc' is not a date, time or duration"),
        ("start=2026-06-16&end=2026-06-15", "range_order", "end must be after start."),
        ("start=2000-01-01&end=2026-01-01", "range_too_long", "Range too long: at most 8 years."),
        ("period=decade", "invalid", "'period': 'decade' is not accepted; use one of: day, week"),
        (
            "date=2026-13-45",
            "invalid",
            "'date': '2026-13-45' is not a valid date; write YYYY-MM-DD",
        ),
        ("date=9999-12-31&period=year", "date_out_of_range", "Date out of range: 9999-12-31."),
        ("period=day&start=2026-06-15&end=2026-06-16", "range_both", "Give both start and end"),
    ],
)
def test_bad_parameters_are_422_with_a_message(alice, query, code, message):
    for path in ("series", "totals", "series.csv"):
        r = alice.get(
            f"/api/installations/CDB001/{path}?{query}", headers={"accept-language": "en"}
        )
        assert r.status_code == 422, (path, query)
        assert r.json()["code"] == code and message in r.json()["detail"]


def test_raw_csv_needs_a_valid_day(alice):
    r = alice.get("/api/installations/CDB001/raw.csv", headers={"accept-language": "en"})
    assert r.json()["detail"] == "Parameter 'day' is missing: give it."
    assert r.json()["errors"] == [
        {"loc": ["query", "day"], "type": "missing", "msg": r.json()["detail"]}
    ]
    assert alice.get("/api/installations/CDB001/raw.csv?day=15/06/2026").status_code == 422
    r = alice.get("/api/installations/CDB001/raw.csv?day=9999-12-31")
    assert r.status_code == 422 and r.json()["code"] == "day_out_of_range"


def test_me_and_installations_list_what_the_login_may_see(alice):
    me = alice.get("/api/me").json()
    assert me["login"] == "alice" and me["role"] == "member"
    assert [i["id"] for i in me["installations"]] == ["CDB001", GROUP]
    group = me["installations"][1]
    assert group == {
        "id": GROUP,
        "caption": "Quartier du Test",
        "kind": "group",
        "homes": 2,
        "groups": [],
    }
    assert me["installations"][0]["groups"] == [GROUP]
    assert alice.get("/api/installations").json() == me["installations"]


def test_day_series_at_one_minute_with_the_gap_as_null(alice):
    d = alice.get(f"/api/installations/CDB001/series?period=day&date={D}").json()
    start, end = local_day_bounds(DAY)
    assert (d["start"], d["end"], d["resolution_s"]) == (start, end, 60)
    assert len(d["ts"]) == 1440 and d["ts"][0] == start and d["ts"][-1] == end - 60
    gap = [i for i, v in enumerate(d["p_cons"]) if v is None]
    assert gap == list(range(GAP[0] // 60, GAP[1] // 60))  # missing, never 0
    for f in ("p_prod", "p_tot", "p_import", "p_export"):
        assert all(d[f][i] is None for i in gap)
    noon = 12 * 60 + 30
    assert d["p_prod"][noon] < -2500 and d["p_export"][noon] < 0 and d["p_import"][noon] == 0
    assert d["p_import"][0] == pytest.approx(400) and d["p_export"][0] == 0
    assert d["has_data"] is True and d["compare"] is None


@pytest.mark.parametrize(
    ("query", "resolution", "points"),
    [
        ("period=week&date=2026-06-17", 900, 7 * 96),
        ("period=month&date=2026-06-17", 900, 30 * 96),
        ("period=year&date=2026-06-17", 86400, 365),
        ("start=2026-06-15T10:00&end=2026-06-15T14:00", 8, 1800),
        ("start=2026-06-15T00:00&end=2026-06-17T00:00", 60, 48 * 60),
        ("start=2026-06-15T00:00&end=2026-06-17T12:00", 900, 60 * 4),
    ],
)
def test_the_server_picks_a_resolution_under_3000_points(alice, query, resolution, points):
    d = alice.get(f"/api/installations/CDB001/series?{query}").json()
    assert d["resolution_s"] == resolution
    assert len(d["ts"]) == points
    assert all(len(d[f]) == points for f in ("p_cons", "p_prod", "p_tot", "p_import", "p_export"))
    assert points <= 3000


def test_no_series_exceeds_3000_points(alice):
    for q in (
        "start=2026-06-14&end=2026-06-16T02:00",
        "start=2026-06-15T00:00&end=2026-06-15T06:40",
    ):
        d = alice.get(f"/api/installations/CDB001/series?{q}").json()
        assert len(d["ts"]) <= 3000, q


def test_year_series_has_the_day_with_data_and_null_elsewhere(alice):
    d = alice.get(f"/api/installations/{GROUP}/series?period=year&date={D}").json()
    start, _ = local_day_bounds(DAY)
    i = d["ts"].index(start)
    assert d["p_cons"][i] is not None
    assert sum(v is not None for v in d["p_cons"]) == 1


def test_dst_days_are_23_and_25_hours(alice):
    spring = alice.get("/api/installations/CDB001/series?period=day&date=2026-03-29").json()
    autumn = alice.get("/api/installations/CDB001/series?period=day&date=2026-10-25").json()
    assert spring["end"] - spring["start"] == 23 * 3600 and len(spring["ts"]) == 23 * 60
    assert autumn["end"] - autumn["start"] == 25 * 3600 and len(autumn["ts"]) == 25 * 60
    assert spring["has_data"] is False and spring["totals"]["consumed_kwh"] is None


def test_totals_match_the_8s_power_and_the_rates_their_definition(alice, seeded):
    start, end = local_day_bounds(DAY)
    p = seeded.read_power("CDB001", start, end)
    cons = p.p_cons.sum() * 8 / 3600 / 1000
    prod = -p.p_prod.sum() * 8 / 3600 / 1000
    imp = p.p_tot[p.p_tot > 0].sum() * 8 / 3600 / 1000
    exp = -p.p_tot[p.p_tot < 0].sum() * 8 / 3600 / 1000
    t = alice.get(f"/api/installations/CDB001/totals?period=day&date={D}").json()
    assert t["consumed_kwh"] == pytest.approx(cons, abs=1e-3)
    assert t["produced_kwh"] == pytest.approx(prod, abs=1e-3)
    assert t["imported_kwh"] == pytest.approx(imp, abs=1e-3)
    assert t["exported_kwh"] == pytest.approx(exp, abs=1e-3)
    assert t["self_consumption"] == pytest.approx(1 - exp / prod, abs=1e-4)
    assert t["self_sufficiency"] == pytest.approx(1 - imp / cons, abs=1e-4)
    series = alice.get(f"/api/installations/CDB001/series?period=day&date={D}").json()
    assert series["totals"] == t


def test_totals_of_an_unaligned_range_use_8s_power_at_the_edges(alice, seeded):
    start, _ = local_day_bounds(DAY)
    s, e = start + 5 * 3600 + 123 * 8, start + 17 * 3600 + 7 * 8
    p = seeded.read_power("CDB001", s, e)
    t = alice.get(f"/api/installations/CDB001/totals?start={s}&end={e}").json()
    assert t["consumed_kwh"] == pytest.approx(p.p_cons.sum() * 8 / 3.6e6, abs=1e-3)
    assert t["exported_kwh"] == pytest.approx(-p.p_tot[p.p_tot < 0].sum() * 8 / 3.6e6, abs=1e-3)


def test_compare_adds_the_groups_per_home_average(alice, seeded):
    d = alice.get(f"/api/installations/CDB001/series?period=day&date={D}&compare={GROUP}").json()
    g = alice.get(f"/api/installations/{GROUP}/series?period=day&date={D}").json()
    c = d["compare"]
    assert c["homes"] == 2 and c["installation"]["id"] == GROUP
    for i in (0, 300, 800, 1439):
        assert c["p_cons"][i] == pytest.approx(g["p_cons"][i] / 2, abs=0.1)
        assert c["p_prod"][i] == pytest.approx(g["p_prod"][i] / 2, abs=0.1)
    # one home missing does not blank the group: the average of the homes that have data
    assert c["homes_counted"][GAP[0] // 60] == 1
    assert c["p_cons"][GAP[0] // 60] == pytest.approx(g["p_cons"][GAP[0] // 60], abs=0.1)


def test_series_csv_is_what_the_chart_shows(alice):
    d = alice.get(f"/api/installations/CDB001/series?period=day&date={D}").json()
    r = alice.get(f"/api/installations/CDB001/series.csv?period=day&date={D}&lang=en")
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="CDB001_power_day-2026-06-15_60s.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(d["ts"])
    assert [int(x["ts"]) for x in rows] == d["ts"]
    assert rows[0]["local_time"] == "2026-06-15T00:00:00+02:00"
    assert rows[GAP[0] // 60]["p_cons_w"] == ""  # missing stays empty, not 0
    assert float(rows[0]["p_cons_w"]) == pytest.approx(d["p_cons"][0], abs=0.05)


def test_raw_csv_has_every_8s_row_of_the_day(alice, seeded):
    r = alice.get(f"/api/installations/CDB001/raw.csv?day={D}&sep=comma")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["ts", "local_time", "p_cons_w", "p_prod_w", "p_tot_w"]
    start, end = local_day_bounds(DAY)
    assert len(rows) - 1 == 10800 - (GAP[1] - GAP[0]) // 8
    assert int(rows[1][0]) == start and rows[1][1] == "2026-06-15T00:00:00+02:00"
    p = seeded.read_power("CDB001", start, end)
    assert [float(x) for x in rows[5000][2:]] == pytest.approx(
        [p.p_cons[4999], p.p_prod[4999], p.p_tot[4999]], abs=0.05
    )


def test_admin_endpoints_are_for_admins_only(alice, admin):
    for url in ADMIN_ENDPOINTS:
        assert alice.get(url).status_code == 403
        assert admin.get(url).status_code == 200


def test_admin_sees_everything_and_no_secret_ever_leaves(admin):
    me = admin.get("/api/me").json()
    assert {i["id"] for i in me["installations"]} == {"CDB001", "CDB002", "CDB003", GROUP, "CDBA09"}
    assert admin.get(f"/api/installations/CDB002/series?date={D}").status_code == 200
    bodies = [admin.get(u).text for u in ADMIN_ENDPOINTS + ["/api/me", "/admin"]]
    for sid in ("s1a", "s1b", "s2a", "s2b", "s3a"):
        assert not any(token_of(sid) in b for b in bodies)
    assert not any("$argon2" in b for b in bodies)
    users = {u["login"]: u for u in admin.get("/api/admin/users").json()}
    assert users["carol"]["has_password"] is False and users["alice"]["has_password"] is True
    assert users["root"]["role"] == "admin"
    assert set(users["alice"]) == {
        "login",
        "role",
        "has_password",
        "invite_pending",
        "installations",
        "created_ts",
    }
    conf = admin.get("/api/admin/installations").json()
    sensor = conf["installations"][0]["sensors"][0]
    assert "token" not in sensor and {"net", "prod", "cons", "ve"} <= set(sensor)


def test_admin_sync_status(admin, seeded):
    from vde.models import MissingInterval, SyncState

    seeded.put_sync_state(SyncState("s1a", last_ts=1781474400, last_error="HTTP 500 from Flukso"))
    seeded.replace_missing("s1a", [MissingInterval("s1a", 1781474400, 1781478000, 1781478000)])
    rows = {r["sensor_id"]: r for r in admin.get("/api/admin/sync").json()}
    assert set(rows) == {"s1a", "s1b", "s2a", "s2b", "s3a"}
    assert rows["s1a"]["last_error"] == "HTTP 500 from Flukso"
    assert rows["s1a"]["installations"] == ["CDB001", GROUP]
    assert rows["s1b"]["missing_share_today"] == 1.0  # never synced: all of today is missing
    page = admin.get("/admin").text
    assert "HTTP 500 from Flukso" in page


def test_members_never_see_password_hashes(alice):
    assert "$argon2" not in alice.get("/api/me").text
    assert PASSWORDS["alice"] not in alice.get("/i/CDB001").text
