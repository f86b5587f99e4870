"""Importing the workbook into a store: versions, all or nothing, recompute on change."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from wbshape import INVALID, real_shape, write_real_shape

from vde.errors import ConfigWorkbookError
from vde.models import SensorRow
from vde.processing.workbook import write_workbook
from vde.storage.base import Store
from vde.sync.importer import import_workbook
from vde.timeutil import BRUSSELS

# Once, on SQLite, but for the tests marked with both backends (save_config of a whole
# real-shaped import, and of one part): validation writes nothing on any backend, and
# the storage operations of an import and its recompute (config_versions, load_config,
# access, captions, raw/power/rollups, lock) are proven on both backends by
# tests/storage/test_contract.py; save_config all-or-nothing by
# test_config_hostile.py::test_store_save_config_is_all_or_nothing.
pytestmark = pytest.mark.backends("sqlite")


def snapshot(store: Store) -> tuple:
    return (store.config_versions(), store.load_config(), sorted(store.access()), store.captions())


@pytest.mark.backends("sqlite", "cassandra")
def test_real_shape_imports_in_under_two_seconds(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "Configuration.xlsx"
    rows, access, captions = write_real_shape(path)
    t0, c0 = time.perf_counter(), time.process_time()
    res = import_workbook(store, path)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    # wall time is the target; this process's CPU time shows the cost on a loaded machine
    print(
        f"\nimport of the real-shaped workbook ({store.backend}): {elapsed:.3f} s wall, "
        f"{cpu:.3f} s CPU in this process (target < 2 s)"
    )
    assert (res.rows, res.installations, res.sensors) == (478, 60, 206)
    assert (res.access_rows, res.captions) == (177, 4)
    [(vid, content_hash)] = store.config_versions()
    assert res.version_id == vid and res.previous_id is None
    # version id = import time in UTC epoch µs
    assert abs(vid / 1e6 - time.time()) < 60
    saved = store.load_config()
    assert saved is not None and content_hash == saved.content_hash()
    assert sorted(saved.rows, key=lambda r: (r.installation_id, r.sensor_id)) == sorted(
        rows, key=lambda r: (r.installation_id, r.sensor_id)
    )
    assert sorted(store.access()) == sorted(access)
    assert store.captions() == captions
    assert "CDBA04" in store.captions()  # the captioned group without sensors
    # 25 access installations without sensors: one warning
    assert len([w for w in res.warnings if w.sheet == "Export_Access"]) == 1
    # more imports, each a new version (another generated fleet), to report a steadier number
    times = [elapsed]
    for seed in (1, 2, 3):
        other = tmp_path / f"c{seed}.xlsx"
        write_real_shape(other, seed=seed)
        t0 = time.perf_counter()
        assert import_workbook(store, other).version_id is not None
        times.append(time.perf_counter() - t0)
    print(f"imports ({store.backend}): min {min(times):.3f} s, max {max(times):.3f} s")


def test_same_content_makes_no_new_version(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    write_real_shape(path)
    first = import_workbook(store, path)
    again = import_workbook(store, path)
    assert again.unchanged and again.version_id is None and again.previous_id == first.version_id
    assert len(store.config_versions()) == 1


def test_changed_content_makes_a_later_version(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    rows, access, captions = write_real_shape(path)
    v1 = import_workbook(store, path).version_id
    rows[0] = replace(rows[0], cons=0)
    write_workbook(path, rows, access, captions)
    res = import_workbook(store, path)
    assert res.version_id is not None and res.version_id > v1
    assert [v for v, _ in store.config_versions()] == [v1, res.version_id]
    assert res.diff is not None and [c.field for c in res.diff.changes] == ["cons"]
    assert res.recomputed == []  # Cons is informative: power does not depend on it


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_workbook_writes_nothing(store: Store, tmp_path: Path, case: str) -> None:
    good = tmp_path / "good.xlsx"
    write_real_shape(good, seed=1)
    import_workbook(store, good)
    before = snapshot(store)
    bad = tmp_path / "bad.xlsx"
    write_real_shape(bad)
    mutate, expected = INVALID[case]
    mutate(bad)
    with pytest.raises(ConfigWorkbookError) as info:
        import_workbook(store, bad)
    assert info.value.exit_code == 2
    [problem] = info.value.problems
    assert all(fragment in str(problem) for fragment in expected)
    assert snapshot(store) == before


def test_invalid_first_import_leaves_the_store_empty(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xlsx"
    write_real_shape(bad)
    INVALID["two tokens"][0](bad)
    INVALID["sign out of range"][0](bad)
    with pytest.raises(ConfigWorkbookError) as info:
        import_workbook(store, bad)
    assert len(info.value.problems) == 2
    assert snapshot(store) == ([], None, [], {})


def test_dry_run_writes_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    write_real_shape(path)
    res = import_workbook(store, path, dry_run=True)
    assert res.dry_run and res.version_id is None and res.rows == 478
    assert res.diff is not None and len(res.diff.installations_added) == 60
    assert snapshot(store) == ([], None, [], {})


@pytest.mark.backends("sqlite", "cassandra")
def test_only_one_part(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    rows, access, captions = write_real_shape(path)
    res = import_workbook(store, path, only="access")
    assert res.parts == ("access",)
    assert store.config_versions() == [] and store.captions() == {}
    assert sorted(store.access()) == sorted(access)
    import_workbook(store, path, only="captions")
    assert store.captions() == captions and store.config_versions() == []
    import_workbook(store, path, only="sensors")
    assert len(store.config_versions()) == 1


# --- recompute on change ------------------------------------------------------------------

T0 = int(datetime(2026, 3, 10, tzinfo=BRUSSELS).timestamp())  # a local midnight
N = 3 * 450  # three hours of 8-s slots


def small_fleet(h1_pv_prod: int) -> list[SensorRow]:
    """Homes H1, H2 (mains + PV) and group G1 of both; H1's PV Prod sign is the variable."""
    ids = {k: f"{i:032x}" for i, k in enumerate(["m1", "p1", "m2", "p2"], start=1)}

    def row(inst: str, key: str, function: str, net: int, prod: int) -> SensorRow:
        return SensorRow(
            inst,
            ids[key],
            f"{ord(key[0]):032x}",
            "FL08000475",
            function,
            net,
            prod,
            1,
            0,
            T0 - 86400,
        )

    homes = [
        row("H1", "m1", "Mains", 1, 0),
        row("H1", "p1", "PV", 0, h1_pv_prod),
        row("H2", "m2", "Mains", 1, 0),
        row("H2", "p2", "PV", 0, -1),
    ]
    group = [replace(r, installation_id="G1", prod=-1 if r.function == "PV" else 0) for r in homes]
    return homes + group


def test_flipped_pv_sign_recomputes_that_home_only(store: Store, tmp_path: Path) -> None:
    from vde.sync.recompute import recompute

    path = tmp_path / "c.xlsx"
    access = [("H1", "H1"), ("H1", "G1"), ("H2", "H2"), ("H2", "G1")]
    write_workbook(path, small_fleet(h1_pv_prod=1), access, {"G1": "Groupe"})  # H1's sign is wrong
    v1 = import_workbook(store, path)
    rng = np.random.default_rng(7)
    ts = T0 + 8 * np.arange(N, dtype=np.int64)
    raw = {r.sensor_id: rng.uniform(100, 3000, N) for r in small_fleet(1)}
    for sid, power in raw.items():
        store.write_raw(sid, ts, power, v1.version_id)
    config1 = store.load_config()
    recompute(store, config1, None, progress=False)
    before = {i: store.read_power(i, T0, T0 + 86400) for i in ("H1", "H2", "G1")}
    day_before = {i: store.read_rollups(i, 86400, T0, T0 + 86400) for i in ("H1", "H2", "G1")}
    assert len(before["H1"]) == N

    write_workbook(path, small_fleet(h1_pv_prod=-1), access, {"G1": "Groupe"})
    res = import_workbook(store, path)
    assert res.recomputed == ["H1"]
    assert res.diff is not None and res.diff.installations_changed == ["H1"]

    after = {i: store.read_power(i, T0, T0 + 86400) for i in ("H1", "H2", "G1")}
    pv = raw[f"{2:032x}"]
    np.testing.assert_array_equal(after["H1"].ts, before["H1"].ts)
    np.testing.assert_allclose(after["H1"].p_prod, -pv)
    np.testing.assert_allclose(before["H1"].p_prod, pv)
    np.testing.assert_allclose(after["H1"].p_tot, before["H1"].p_tot)
    np.testing.assert_allclose(after["H1"].p_cons, before["H1"].p_cons + 2 * pv)
    for inst in ("H2", "G1"):  # untouched
        for col in ("ts", "p_cons", "p_prod", "p_tot"):
            np.testing.assert_array_equal(getattr(after[inst], col), getattr(before[inst], col))

    # daily energy changes by exactly the PV energy, twice
    e_pv = pv.sum() * 8 / 3600  # [Wh]
    day_after = {i: store.read_rollups(i, 86400, T0, T0 + 86400) for i in ("H1", "H2", "G1")}
    old, new = day_before["H1"].columns, day_after["H1"].columns
    assert new["e_prod_wh"][0] == pytest.approx(-e_pv, rel=1e-9)
    assert old["e_prod_wh"][0] == pytest.approx(e_pv, rel=1e-9)
    assert new["e_cons_wh"][0] - old["e_cons_wh"][0] == pytest.approx(2 * e_pv, rel=1e-9)
    assert new["e_tot_wh"][0] == pytest.approx(old["e_tot_wh"][0], rel=1e-12)
    for inst in ("H2", "G1"):
        for name, col in day_before[inst].columns.items():
            np.testing.assert_array_equal(day_after[inst].columns[name], col)


def test_first_import_and_no_data_call_no_recompute(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    rows, access, captions = real_shape()
    write_workbook(path, rows, access, captions)
    assert import_workbook(store, path).recomputed == []
    rows[0] = replace(rows[0], prod=1)
    write_workbook(path, rows, access, captions)
    res = import_workbook(store, path)
    assert res.diff is not None and res.diff.installations_changed == ["CDB001"]
    assert res.recomputed == []  # no raw data or power stored for it: nothing to recompute


def test_first_import_over_stored_raw_computes_power(store: Store, tmp_path: Path) -> None:
    ts = T0 + 8 * np.arange(450, dtype=np.int64)
    for r in small_fleet(-1):  # raw already there, e.g. migrated from the original system
        store.write_raw(r.sensor_id, ts, np.full(450, 500.0), 0)
    path = tmp_path / "c.xlsx"
    write_workbook(path, small_fleet(-1), [("H1", "H1")], {})
    res = import_workbook(store, path)
    assert res.recomputed == ["G1", "H1", "H2"]
    h1 = store.read_power("H1", T0, T0 + 3600)
    np.testing.assert_allclose(h1.p_prod, -500.0)
    np.testing.assert_allclose(h1.p_cons, 1000.0)
    np.testing.assert_allclose(store.read_power("G1", T0, T0 + 3600).p_tot, 1000.0)


def test_import_waits_for_no_sync(store: Store, tmp_path: Path) -> None:
    from vde.errors import LockedError
    from vde.storage import open_store

    path = tmp_path / "c.xlsx"
    write_real_shape(path)
    with open_store(store.url) as other:  # another process's sync holds the lease
        assert other.try_lock("sync", 600)
        try:
            with pytest.raises(LockedError):
                import_workbook(store, path)
            assert snapshot(store) == ([], None, [], {})
            assert import_workbook(store, path, dry_run=True).rows == 478  # reads only
        finally:
            other.release_lock("sync")
    assert import_workbook(store, path).version_id is not None
