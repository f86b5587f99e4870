"""Energy bars, coverage and comparisons through the API, on both backends: no data is null
(never 0 kWh), every total and bar carries its coverage, bars add up to the totals."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from .conftest import DAY, GAP, GROUP

D = DAY.isoformat()
E = "/api/installations/{i}/energy?period={p}&date={d}"


def energy(client, inst="CDB001", period="day", day=D, extra=""):
    r = client.get(E.format(i=inst, p=period, d=day) + extra)
    assert r.status_code == 200, r.text
    return r.json()


def test_day_has_24_hourly_bars_and_the_gap_hour_is_null(alice):
    d = energy(alice)
    bars = d["bars"]
    assert bars["unit"] == "hour" and len(bars["ts"]) == 24
    gap_hour = GAP[0] // 3600
    assert bars["consumed_kwh"][gap_hour] is None and bars["coverage"][gap_hour] == 0
    others = [c for i, c in enumerate(bars["coverage"]) if i != gap_hour]
    assert others == [1.0] * 23
    assert all(v is not None and v > 0 for i, v in enumerate(bars["consumed_kwh"]) if i != gap_hour)


def test_bars_add_up_to_the_totals_and_the_totals_carry_their_coverage(alice):
    d = energy(alice)
    t = d["totals"]
    assert t["coverage"] == pytest.approx(23 / 24, abs=1e-4) and t["complete"] is False
    for k in ("consumed_kwh", "produced_kwh", "imported_kwh", "exported_kwh"):
        s = sum(v for v in d["bars"][k] if v is not None)
        assert s == pytest.approx(t[k], abs=0.01), k
    # self-consumed = produced - exported, per bar and in total
    assert t["self_consumed_kwh"] == pytest.approx(t["produced_kwh"] - t["exported_kwh"], abs=1e-3)


def test_a_day_without_data_is_null_everywhere(alice):
    d = energy(alice, day=(DAY - timedelta(days=3)).isoformat())
    t = d["totals"]
    for k in ("consumed_kwh", "produced_kwh", "imported_kwh", "exported_kwh", "self_consumption"):
        assert t[k] is None, k
    assert t["coverage"] == 0
    assert set(d["bars"]["consumed_kwh"]) == {None}
    series = alice.get(f"/api/installations/CDB001/totals?period=day&date={DAY - timedelta(3)}")
    assert series.json()["consumed_kwh"] is None


def test_week_and_month_have_daily_bars_year_monthly(alice):
    week = energy(alice, period="week")
    assert week["bars"]["unit"] == "day" and len(week["bars"]["ts"]) == 7
    month = energy(alice, period="month")
    assert month["bars"]["unit"] == "day" and len(month["bars"]["ts"]) == 30
    june = DAY.day - 1
    assert [i for i, v in enumerate(month["bars"]["consumed_kwh"]) if v is not None] == [june]
    year = energy(alice, period="year")
    bars = year["bars"]
    assert bars["unit"] == "month" and len(bars["ts"]) == 12
    assert [i for i, v in enumerate(bars["consumed_kwh"]) if v is not None] == [5]
    # June has one day (less an hour) of 30: its coverage says so
    assert bars["coverage"][5] == pytest.approx(23 / 24 / 30, abs=1e-3)
    assert year["totals"]["consumed_kwh"] == pytest.approx(
        month["totals"]["consumed_kwh"], abs=1e-3
    )
    # a year with 3 % of its slots: kWh shown with their coverage, rates not shown
    assert year["totals"]["self_consumption"] is None
    # a year's previous period is last year (read once)
    prev = {k: v for k, v in year["previous"].items() if k != "bars"}
    assert prev == year["last_year"] and len(year["previous"]["bars"]["ts"]) == 12


def test_zoomed_range_has_15_min_bars(alice):
    from vde.timeutil import local_day_bounds

    s = local_day_bounds(DAY)[0]
    r = alice.get(f"/api/installations/CDB001/energy?start={s + 6 * 3600}&end={s + 9 * 3600}")
    bars = r.json()["bars"]
    assert bars["unit"] == "15min" and len(bars["ts"]) == 12
    assert bars["coverage"] == [1.0] * 12


def test_previous_period_and_last_year_without_data_give_no_change(alice):
    d = energy(alice)
    assert d["previous"]["end"] == d["start"] and d["previous"]["consumed_kwh"] is None
    assert len(d["previous"]["bars"]["ts"]) == 24
    assert d["last_year"]["consumed_kwh"] is None
    assert d["changes"]["consumed_kwh"] == {"previous": None, "last_year": None}


def test_next_day_compares_with_a_day_that_has_data(alice):
    d = energy(alice, day=(DAY + timedelta(days=1)).isoformat())
    assert d["totals"]["consumed_kwh"] is None
    assert d["previous"]["consumed_kwh"] > 0
    assert d["changes"]["consumed_kwh"]["previous"] is None  # nothing to compare with


def test_home_against_the_group_per_home_average(alice):
    d = energy(alice, extra=f"&compare={GROUP}")
    c = d["compare"]
    assert c["homes"] == 2 and c["installation"]["id"] == GROUP
    home = d["totals"]["consumed_kwh"]
    avg = c["average"]["consumed_kwh"]
    assert avg > home  # bob's home is 1.5x alice's, so the average is above alice
    assert c["difference_kwh"]["consumed_kwh"] == pytest.approx(home - avg, abs=2e-3)
    assert c["difference"]["consumed_kwh"] == pytest.approx((home - avg) / avg, abs=1e-3)


def test_energy_of_an_invisible_installation_is_404(alice):
    assert alice.get(E.format(i="CDB003", p="day", d=D)).status_code == 404
    assert alice.get(E.format(i="CDB001", p="day", d=D) + "&compare=CDB002").status_code == 404


def test_energy_csv_in_french_uses_semicolons_and_decimal_commas(alice):
    r = alice.get(f"/api/installations/CDB001/energy.csv?period=day&date={D}&lang=fr")
    assert 'filename="CDB001_energy_day-2026-06-15_hour.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text), delimiter=";"))
    assert rows[0] == [
        "start",
        "end",
        "consumed_kwh",
        "produced_kwh",
        "imported_kwh",
        "exported_kwh",
        "self_consumed_kwh",
        "coverage",
    ]
    assert len(rows) == 25 and rows[1][0] == "2026-06-15T00:00:00+02:00"
    gap = rows[1 + GAP[0] // 3600]
    assert gap[2:7] == [""] * 5 and gap[7] == "0,0000"  # no data: empty, never 0 kWh
    assert "," in rows[13][2] and "." not in rows[13][2]
    assert not any(c.startswith("-0") and not c.strip("-0,") for row in rows for c in row)
    d = energy(alice)
    assert float(rows[13][2].replace(",", ".")) == pytest.approx(
        d["bars"]["consumed_kwh"][12], abs=1e-3
    )


def test_csv_option_forces_commas_and_file_names_never_collide(alice):
    r = alice.get(f"/api/installations/CDB001/energy.csv?period=month&date={D}&sep=comma")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert len(rows) == 31 and "." in rows[DAY.day][2]
    names = set()
    for url in (
        f"energy.csv?period=day&date={D}",
        f"energy.csv?period=week&date={D}",
        f"energy.csv?period=day&date={D}&unit=15min",
        f"series.csv?period=day&date={D}",
        "series.csv?start=2026-06-15T06:00&end=2026-06-15T09:00",
        "series.csv?start=2026-06-15T07:00&end=2026-06-15T09:00",
        f"raw.csv?day={D}",
    ):
        r = alice.get(f"/api/installations/CDB001/{url}")
        assert r.status_code == 200, url
        names.add(r.headers["content-disposition"])
    assert len(names) == 7


def test_power_csv_has_no_negative_zero(alice):
    r = alice.get(f"/api/installations/CDB001/series.csv?period=day&date={D}&lang=en")
    cells = [c for row in csv.reader(io.StringIO(r.text)) for c in row]
    assert "-0.0" not in cells and "0.0" in cells  # night production is 0.0, not -0.0


def test_a_group_bar_counts_the_homes_that_have_data(alice, admin):
    """CDB001 misses an hour: the group's bar of that hour still shows CDB002, says it
    counts 1 home of 2, and its coverage is half; the stored group power (missing there,
    since one sensor is missing) does not blank the community."""
    d = energy(alice, inst=GROUP)
    bars, t = d["bars"], d["totals"]
    gap_hour = GAP[0] // 3600
    assert bars["members"] == 2 and bars["homes"][gap_hour] == 1
    assert bars["homes"][gap_hour - 1] == 2
    assert bars["consumed_kwh"][gap_hour] is not None
    assert bars["coverage"][gap_hour] == pytest.approx(0.5, abs=1e-4)
    assert t["homes"] == 2 and t["members"] == 2
    assert t["coverage"] == pytest.approx((24 + 23) / 48, abs=1e-4)
    home1, home2 = energy(admin, "CDB001")["totals"], energy(admin, "CDB002")["totals"]
    for k in ("consumed_kwh", "produced_kwh", "imported_kwh", "exported_kwh"):
        assert t[k] == pytest.approx(home1[k] + home2[k], abs=2e-3), k


def test_a_group_day_without_data_counts_no_home(alice):
    d = energy(alice, inst=GROUP, day=(DAY + timedelta(days=2)).isoformat())
    assert d["totals"]["homes"] == 0 and d["totals"]["consumed_kwh"] is None
    assert set(d["bars"]["homes"]) == {0}


@pytest.fixture(scope="module")
def priced(seeded):
    from fastapi.testclient import TestClient

    from vde.settings import Settings
    from vde.web.app import create_app

    from .conftest import login

    settings = Settings(
        database="sqlite:///unused.db",
        tariff_import_eur_kwh=0.30,
        tariff_export_eur_kwh=0.05,
        tariff_night_import_eur_kwh=0.20,
        tariff_night_hours="22-7",
    )
    with TestClient(create_app(seeded, settings)) as c:
        yield login(c, "alice")


def test_costs_apply_the_day_and_night_import_prices_per_hour(priced):
    d = energy(priced)
    bars = d["bars"]
    for h in range(24):
        imp, exp = bars["imported_kwh"][h], bars["exported_kwh"][h]
        if imp is None:
            assert bars["cost"]["import_eur"][h] is None
            continue
        price = 0.20 if (h >= 22 or h < 7) else 0.30
        assert bars["cost"]["import_eur"][h] == pytest.approx(imp * price, abs=0.006)
        assert bars["cost"]["export_eur"][h] == pytest.approx(exp * 0.05, abs=0.006)
    cost = d["totals"]["cost"]
    assert cost["net_eur"] == pytest.approx(cost["import_eur"] - cost["export_eur"], abs=0.011)
    # a week (daily bars) reads the hours: the same euros as the only day with data
    week = energy(priced, period="week")["totals"]["cost"]
    assert week["import_eur"] == pytest.approx(cost["import_eur"], abs=0.011)
    none = energy(priced, day=(DAY - timedelta(days=3)).isoformat())
    assert none["totals"]["cost"] == {"import_eur": None, "export_eur": None, "net_eur": None}


def test_previous_period_and_last_year_carry_their_costs(priced):
    """The day after DAY compares with DAY (previous period), and DAY a year later compares
    with DAY (same period last year): both comparisons carry DAY's own euros."""
    own = energy(priced)["totals"]["cost"]
    assert own["import_eur"] > 0
    after = energy(priced, day=(DAY + timedelta(days=1)).isoformat())
    assert after["previous"]["cost"] == own
    assert after["last_year"]["cost"] == {"import_eur": None, "export_eur": None, "net_eur": None}
    # no euros this day: no change to give, but the keys are there for the cards
    assert after["changes"]["net_eur"] == {"previous": None, "last_year": None}
    later = energy(priced, day=DAY.replace(year=DAY.year + 1).isoformat())
    assert later["last_year"]["cost"] == own
    # DAY itself against the empty day before: no relative change from nothing
    d = energy(priced)
    assert d["previous"]["cost"]["net_eur"] is None
    assert d["changes"]["import_eur"]["previous"] is None


def test_energy_csv_has_cost_columns_when_tariffs_are_set(priced):
    r = priced.get(f"/api/installations/CDB001/energy.csv?period=day&date={D}&lang=nl")
    rows = list(csv.reader(io.StringIO(r.text), delimiter=";"))
    assert rows[0][-4:] == ["coverage", "import_eur", "export_eur", "net_eur"]
    bars = energy(priced)["bars"]["cost"]
    for h, row in enumerate(rows[1:]):
        got = [float(c.replace(",", ".")) if c else None for c in row[-3:]]
        assert got == [bars[k][h] for k in ("import_eur", "export_eur", "net_eur")], h
        assert all("." not in c for c in row[-3:])  # the page's decimal comma
        assert not any(c.startswith("-") and not c.strip("-0,") for c in row)  # no -0,00
    gap = rows[1 + GAP[0] // 3600]
    assert gap[-3:] == ["", "", ""]  # no data: no euros either
    en = priced.get(f"/api/installations/CDB001/energy.csv?period=day&date={D}&lang=en").text
    assert en.splitlines()[0].endswith(",coverage,import_eur,export_eur,net_eur")


def test_without_tariffs_there_are_no_costs(alice):
    d = energy(alice)
    assert "cost" not in d["bars"] and "cost" not in d["totals"]
    assert "cost" not in d["previous"] and "cost" not in d["last_year"]
    assert "net_eur" not in d["changes"]


def test_group_power_curve_shows_buckets_where_one_home_has_data(alice):
    """The power view of a group sums its homes too: the hour CDB001 misses still has a
    curve (CDB002's), with the homes counted per bucket."""
    d = alice.get(f"/api/installations/{GROUP}/series?period=day&date={D}").json()
    assert d["members"] == 2 and d["resolution_s"] == 60
    gap = GAP[0] // 60 + 5  # a minute inside the gap hour
    assert d["homes"][gap] == 1 and d["p_cons"][gap] is not None
    assert d["homes"][gap - 120] == 2
    home = alice.get(f"/api/installations/CDB001/series?period=day&date={D}&compare={GROUP}")
    c = home.json()["compare"]
    # per bucket, the average of the homes counted: in the gap, CDB002 alone
    assert c["homes_counted"][gap] == 1
    assert c["p_cons"][gap] == pytest.approx(d["p_cons"][gap], abs=0.2)
    assert c["p_cons"][gap - 120] == pytest.approx(d["p_cons"][gap - 120] / 2, abs=0.2)
