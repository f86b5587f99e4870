"""Differences between configuration versions (pure)."""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from wbshape import real_shape

from vde.models import ConfigVersion
from vde.processing.configdiff import RowChange, diff_configs, format_diff

ROWS, _, _ = real_shape()
V1 = ConfigVersion(1, tuple(ROWS))


def with_rows(rows, vid: int = 2) -> ConfigVersion:
    return ConfigVersion(vid, tuple(rows))


def test_same_content_is_empty() -> None:
    d = diff_configs(V1, with_rows(ROWS))
    assert d.empty and d.recompute_installations == []
    assert format_diff(d)[1] == "no differences"


def test_flipped_pv_sign_changes_only_that_home() -> None:
    rows = list(ROWS)
    i = next(k for k, r in enumerate(rows) if r.installation_id == "CDB003" and r.function == "PV")
    rows[i] = replace(rows[i], prod=-rows[i].prod)
    d = diff_configs(V1, with_rows(rows))
    assert d.changes == [RowChange("CDB003", rows[i].sensor_id, "prod", ROWS[i].prod, rows[i].prod)]
    assert d.installations_changed == ["CDB003"]
    assert d.recompute_installations == ["CDB003"]
    assert d.sign_changes() == d.changes
    assert not (d.rows_added or d.rows_removed or d.sensors_added or d.installations_added)


def test_cons_and_ve_changes_are_reported_but_need_no_recompute() -> None:
    rows = [replace(r, cons=0) if r.installation_id == "CDB001" else r for r in ROWS]
    d = diff_configs(V1, with_rows(rows))
    assert {c.field for c in d.changes} == {"cons"} and len(d.changes) == 4
    assert d.installations_changed == [] and d.recompute_installations == []


def test_sensor_set_changes() -> None:
    # a new sensor in CDB005 (and its group CDBA01); CDB057 removed entirely
    new = replace(ROWS[20], sensor_id="e" * 32, installation_id="CDB005", function="PV2")
    rows = [r for r in ROWS if r.installation_id != "CDB057"] + [
        new,
        replace(new, installation_id="CDBA01"),
    ]
    removed = [r for r in ROWS if r.installation_id == "CDB057"]
    d = diff_configs(V1, with_rows(rows))
    assert d.sensors_added == ["e" * 32]
    assert d.sensors_removed == []  # CDB057's sensors are still in group CDBA02
    assert d.installations_removed == ["CDB057"]
    assert d.rows_added == [("CDB005", "e" * 32), ("CDBA01", "e" * 32)]
    assert d.rows_removed == sorted(("CDB057", r.sensor_id) for r in removed)
    assert d.installations_changed == ["CDB005", "CDBA01"]
    lines = format_diff(d)
    assert "installations removed (1): CDB057" in lines
    assert f"+ CDB005 {'e' * 32}" in lines


def test_removed_sensor_everywhere_and_added_installation() -> None:
    gone = ROWS[0].sensor_id
    rows = [r for r in ROWS if r.sensor_id != gone] + [replace(ROWS[1], installation_id="CDB099")]
    d = diff_configs(V1, with_rows(rows))
    assert d.sensors_removed == [gone]
    assert d.installations_added == ["CDB099"]
    assert d.recompute_installations == ["CDB001", "CDB099", "CDBA01", "CDBA03"]


def test_token_change_is_flagged_without_its_value() -> None:
    rows = [replace(r, token="a" * 32) if r.sensor_id == ROWS[0].sensor_id else r for r in ROWS]
    d = diff_configs(V1, with_rows(rows))
    assert {(c.field, c.old, c.new) for c in d.changes} == {("token", None, None)}
    text = json.dumps(d.to_dict()) + "\n".join(format_diff(d))
    assert ROWS[0].token not in text and "a" * 32 not in text
    assert d.recompute_installations == []


def test_from_nothing_everything_is_added() -> None:
    d = diff_configs(None, V1)
    assert d.old_id is None and len(d.installations_added) == 60 and len(d.sensors_added) == 206
    assert len(d.recompute_installations) == 60
    assert diff_configs(V1, V1).to_dict()["changes"] == []


def test_start_date_change_triggers_recompute() -> None:
    rows = [
        replace(r, start_ts=r.start_ts + 86400) if r.installation_id == "CDB010" else r
        for r in ROWS
    ]
    d = diff_configs(V1, with_rows(rows))
    assert d.installations_changed == ["CDB010"]
    assert any("StartDate" in line for line in format_diff(d))


@settings(max_examples=50, deadline=None)
@given(
    st.sets(st.integers(0, len(ROWS) - 1), max_size=20),
    st.sets(st.integers(0, len(ROWS) - 1), max_size=20),
)
def test_diff_is_antisymmetric(drop_a: set[int], drop_b: set[int]) -> None:
    a = with_rows([r for i, r in enumerate(ROWS) if i not in drop_a], 1)
    b = with_rows([r for i, r in enumerate(ROWS) if i not in drop_b], 2)
    ab, ba = diff_configs(a, b), diff_configs(b, a)
    assert ab.rows_added == ba.rows_removed and ab.rows_removed == ba.rows_added
    assert ab.installations_changed == ba.installations_changed
    assert len(ab.rows_added) == len(drop_a - drop_b)
