"""The tmpo block codec: round trips, validation against the header, every known defect."""

from __future__ import annotations

import gzip

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vde.flukso import (
    CorruptBlockError,
    block_document,
    decode_block,
    decode_document,
    encode_block,
    encode_document,
)

BID = 1_700_000_000 - 1_700_000_000 % 4096
REF = {"sensor_id": "ab" * 16, "rid": 2, "lvl": 12, "bid": BID}


@st.composite
def meter_blocks(draw):
    n = draw(st.integers(1, 400))
    gaps = draw(st.lists(st.integers(1, 3600), min_size=n - 1, max_size=n - 1))
    incs = draw(
        st.lists(
            st.floats(0, 5000, allow_nan=False, allow_infinity=False),
            min_size=n - 1,
            max_size=n - 1,
        )
    )
    c0 = draw(st.floats(0, 1e9, allow_nan=False))
    ts = BID + np.concatenate([[0], np.cumsum(np.array(gaps, dtype=np.int64))]).astype(np.int64)
    counter = np.round(c0 + np.concatenate([[0.0], np.cumsum(incs)]), 3)
    return ts, counter


@settings(max_examples=200, deadline=None)
@given(meter_blocks())
def test_round_trip_is_exact(block):
    ts, counter = block
    out = decode_block(encode_block(ts, counter), **REF)
    assert out.issue is None
    np.testing.assert_array_equal(out.ts, ts)
    assert out.ts.dtype == np.int64 and out.counter_wh.dtype == np.float64
    # counters come back as the meter wrote them: 3 decimals, exactly
    np.testing.assert_array_equal(np.round(out.counter_wh, 3), out.counter_wh)
    np.testing.assert_allclose(out.counter_wh, counter, rtol=0, atol=1e-9 * max(1.0, counter.max()))


def test_known_block_by_hand():
    doc = (
        b'{"h":{"cfg":{"function":"main","data_type":"counter"},"head":[1700000000,10.5],'
        b'"tail":[1700000012,13.0],"vsn":1},"t":[0,2,10],"v":[0,0.25,2.25]}'
    )
    out = decode_document(doc)
    assert out.ts.tolist() == [1700000000, 1700000002, 1700000012]
    assert out.counter_wh.tolist() == [10.5, 10.75, 13.0]
    assert out.cfg["function"] == "main"
    assert out.issue is None


def _doc(ts, counter) -> dict:
    return block_document(np.asarray(ts), np.asarray(counter))


def test_more_v_than_t_keeps_head_and_tail():
    doc = _doc([BID, BID + 5, BID + 9, BID + 20], [100.0, 101.5, 102.25, 110.0])
    doc["v"].insert(2, 0.5)  # compacted firmware: one extra v per merged child
    out = decode_document(orjson.dumps(doc), **REF)
    assert out.ts.tolist() == [BID, BID + 20]
    assert out.counter_wh.tolist() == [100.0, 110.0]
    assert out.issue is not None
    assert "length_mismatch" in out.issue.kinds
    assert out.issue.action == "kept_head_tail"
    assert (out.issue.sensor_id, out.issue.rid, out.issue.lvl, out.issue.bid) == (
        "ab" * 16,
        2,
        12,
        BID,
    )
    assert "len(t)=4 len(v)=5" in str(out.issue)


def test_counter_sum_mismatch_keeps_head_and_tail():
    doc = _doc([BID, BID + 5, BID + 9], [100.0, 101.5, 102.25])
    doc["v"][1] = 3.0
    out = decode_document(orjson.dumps(doc), **REF)
    assert out.counter_wh.tolist() == [100.0, 102.25]
    assert out.issue.kinds == ("counter_sum_mismatch",)


def test_time_sum_mismatch_keeps_the_body_consistent_with_the_header():
    doc = _doc([BID, BID + 5, BID + 9], [100.0, 101.5, 102.25])
    doc["t"][1] = 6
    out = decode_document(orjson.dumps(doc), **REF)
    # BID+6 is before the tail and its counter below the tail's: consistent, kept; the
    # next time (BID+10) lies past the tail: the run stops there, then the tail
    assert out.ts.tolist() == [BID, BID + 6, BID + 9]
    assert out.counter_wh.tolist() == [100.0, 101.5, 102.25]
    assert "time_sum_mismatch" in out.issue.kinds and out.issue.action == "kept_partial"


def test_body_cut_short_keeps_every_body_point():
    """The "header" defect: t0 + sum(t) != tail because the last deltas are gone."""
    ts = BID + np.cumsum(np.r_[0, np.full(4277, 15)])
    c = 500.0 + np.arange(len(ts)) * 0.125
    doc = _doc(ts.tolist(), c.tolist())
    doc["t"], doc["v"] = doc["t"][:-2], doc["v"][:-2]  # the tail is 2 points (30 s) later
    out = decode_document(orjson.dumps(doc), **REF)
    assert out.issue.action == "kept_partial" and "time_sum_mismatch" in out.issue.kinds
    assert out.issue.points_kept == 4276 + 1  # every body point left, and the tail
    assert out.ts.tolist() == ts[:-2].tolist() + [int(ts[-1])]
    np.testing.assert_allclose(out.counter_wh, np.r_[c[:-2], c[-1]], atol=5e-7)


def test_body_inconsistent_with_the_header_stops_the_run():
    ts = [BID, BID + 10, BID + 20, BID + 30, BID + 40]
    doc = _doc(ts, [10.0, 11.0, 12.0, 13.0, 14.0])
    doc["t"][-1] = 11  # time past the tail
    doc["v"][2] = -3.0  # counter decreases at the third point
    out = decode_document(orjson.dumps(doc), **REF)
    assert out.ts.tolist() == [BID, BID + 10, BID + 40]
    assert out.counter_wh.tolist() == [10.0, 11.0, 14.0]


def test_non_increasing_time_is_reported():
    doc = _doc([BID, BID + 5, BID + 9], [100.0, 101.5, 102.25])
    doc["t"] = [0, 9, 0]
    out = decode_document(orjson.dumps(doc), **REF)
    assert "time_not_increasing" in out.issue.kinds
    assert out.ts.tolist() == [BID, BID + 9]


def test_empty_elements_repaired_when_header_proves_nothing_lost():
    doc = _doc([BID, BID + 2, BID + 144], [5.0, 6.0, 7.5])
    text = orjson.dumps(doc).replace(b'"t":[0,2,142]', b'"t":[0,2,,142]')
    assert b",," in text
    out = decode_document(text, **REF)
    assert out.ts.tolist() == [BID, BID + 2, BID + 144]
    assert out.counter_wh.tolist() == [5.0, 6.0, 7.5]
    assert out.issue.kinds == ("empty_elements",)
    assert out.issue.action == "repaired"


def test_one_lost_delta_follows_from_the_tail():
    doc = _doc([BID, BID + 2, BID + 144, BID + 150], [5.0, 6.0, 7.5, 8.0])
    text = orjson.dumps(doc).replace(b'"v":[0,1,1.5,0.5]', b'"v":[0,1,,0.5]')
    out = decode_document(text, **REF)
    assert out.issue.kinds[0] == "empty_elements"
    assert out.issue.action == "repaired"
    assert out.ts.tolist() == [BID, BID + 2, BID + 144, BID + 150]
    assert out.counter_wh.tolist() == [5.0, 6.0, 7.5, 8.0]


def test_several_lost_deltas_keep_the_certain_points_only():
    ts = BID + np.array([0, 10, 20, 30, 40, 50, 60])
    counter = np.array([100.0, 100.5, 101.25, 102.0, 103.0, 103.125, 104.0])
    text = orjson.dumps(_doc(ts, counter))
    assert b'"v":[0,0.5,0.75,0.75,1,0.125,0.875]' in text
    text = text.replace(b'"v":[0,0.5,0.75,0.75,1,0.125,0.875]', b'"v":[0,0.5,,0.75,,0.125,0.875]')
    out = decode_document(text, **REF)
    assert out.issue.action == "kept_certain"
    # points 2 and 3 depend on how the two lost deltas split: dropped; the rest is exact
    assert out.ts.tolist() == ts[[0, 1, 4, 5, 6]].tolist()
    assert out.counter_wh.tolist() == counter[[0, 1, 4, 5, 6]].tolist()
    assert "2 point(s) between lost deltas dropped" in out.issue.detail


def test_lost_deltas_that_contradict_the_tail_keep_head_and_tail():
    ts = BID + np.array([0, 10, 20, 30])
    text = orjson.dumps(_doc(ts, [100.0, 100.5, 101.25, 102.0]))
    text = text.replace(b'"v":[0,0.5,0.75,0.75]', b'"v":[0,5.5,,0.75]')
    out = decode_document(text, **REF)
    assert out.issue.action == "kept_head_tail"
    assert out.counter_wh.tolist() == [100.0, 102.0]


def test_more_t_than_v_keeps_head_and_tail():
    doc = _doc([BID, BID + 5, BID + 9, BID + 20], [100.0, 101.5, 102.25, 110.0])
    doc["v"] = doc["v"][:-1]
    out = decode_document(orjson.dumps(doc), **REF)
    assert out.issue.kinds == ("length_mismatch",)
    assert out.ts.tolist() == [BID, BID + 20]


def test_pulse_meter_block_rebuilt_and_checked_against_tail():
    ts = BID + np.array([0, 7, 19, 20, 44, 61])
    counter = 5000.0 + np.arange(6) * 10.0
    doc = _doc(ts, counter)
    doc["v"] = [0] + [10] * 8  # more v than t, all one pulse size
    out = decode_document(orjson.dumps(doc), **REF)
    assert out.issue.action == "rebuilt_pulse"
    np.testing.assert_array_equal(out.ts, ts)
    np.testing.assert_array_equal(out.counter_wh, counter)


def test_pulse_rebuild_refused_when_tail_disagrees():
    ts = BID + np.array([0, 7, 19, 20])
    doc = _doc(ts, [5000.0, 5010.0, 5020.0, 5040.0])  # one gap of two pulses
    doc["v"] = [0, 10, 10, 10, 10]
    out = decode_document(orjson.dumps(doc), **REF)
    assert out.issue.action == "kept_head_tail"
    assert out.counter_wh.tolist() == [5000.0, 5040.0]


def test_unparseable_body_with_readable_header_keeps_head_and_tail():
    text = (
        b'{"h":{"cfg":{},"head":[1700000000,1.0],"tail":[1700000100,2.0],"vsn":1},'
        b'"t":[0,50,50],"v":[0,0.5,@@]}'
    )
    out = decode_document(text, **REF)
    assert "bad_json" in out.issue.kinds
    assert out.ts.tolist() == [1700000000, 1700000100]
    assert out.counter_wh.tolist() == [1.0, 2.0]


def test_no_header_means_nothing_certain_and_it_is_reported():
    out = decode_document(b'{"t":[0,1],"v":[0,1]}', **REF)
    assert len(out.ts) == 0
    assert out.issue.action == "dropped"
    assert out.issue.kinds == ("bad_header",)


def test_single_point_block():
    out = decode_block(encode_block([BID + 3], [42.125]))
    assert out.ts.tolist() == [BID + 3] and out.counter_wh.tolist() == [42.125]


def test_truncated_gzip_is_a_corrupt_block_error():
    data = encode_block(BID + np.arange(0, 200, 2), np.arange(100) * 1.5)
    with pytest.raises(CorruptBlockError):
        decode_block(data[: len(data) // 2])
    with pytest.raises(CorruptBlockError):
        decode_block(b"<html>proxy error</html>")


def test_plain_json_body_is_accepted():
    doc = _doc([BID, BID + 1], [1.0, 2.0])
    out = decode_block(orjson.dumps(doc))
    assert out.ts.tolist() == [BID, BID + 1]
    assert gzip.decompress(encode_document(doc)) == orjson.dumps(doc)


def test_valid_block_off_the_fast_path_has_no_issue():
    # counters with 4 decimals (not what a meter writes, but valid): float cumsum path
    doc = (
        b'{"h":{"head":[1700000000,10.0],"tail":[1700000020,10.0003],"vsn":1},'
        b'"t":[0,10,10],"v":[0,0.0001,0.0002]}'
    )
    out = decode_document(doc)
    assert out.issue is None
    np.testing.assert_allclose(out.counter_wh, [10.0, 10.0001, 10.0003], rtol=0, atol=1e-12)
    # a float head time that is an integer
    doc2 = doc.replace(b"[1700000000,", b"[1700000000.0,")
    assert decode_document(doc2).issue is None
    # a head counter with 4 decimals
    doc3 = doc.replace(b"10.0]", b"10.0001]").replace(b"10.0003]", b"10.0004]")
    out3 = decode_document(doc3)
    assert out3.issue is None
    np.testing.assert_allclose(out3.counter_wh, [10.0001, 10.0002, 10.0004], rtol=0, atol=1e-12)
