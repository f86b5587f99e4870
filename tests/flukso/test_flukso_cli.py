"""``vde flukso dump`` against the tiny tmpo API over real HTTP."""

from __future__ import annotations

import orjson
import pytest
import structlog
from tmpo_fake import T0, meter_points

from vde.cli import main
from vde.flukso import block_document, encode_document

SID = "0123456789abcdef0123456789abcdef"
TOKEN = "fedcba9876543210fedcba9876543210"


@pytest.fixture(autouse=True)
def _reset_logging():
    # main() points structlog at the captured stderr; later tests must not log into it
    yield
    structlog.reset_defaults()


@pytest.fixture
def served(tmpo_server):
    ts, counter = meter_points(T0, T0 + 1800, seed=11)
    tmpo_server.add_sensor(SID, TOKEN)
    tmpo_server.put_points(SID, ts, counter)
    return tmpo_server, ts, counter


def test_dump_csv(served, capsys, monkeypatch):
    server, ts, counter = served
    monkeypatch.setenv("VDE_FLUKSO_TOKEN", TOKEN)
    main(
        [
            "flukso",
            "dump",
            SID,
            "--api",
            server.url,
            "--since",
            str(T0 + 100),
            "--until",
            str(T0 + 1000),
        ]
    )
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "ts,counter_wh,rid"
    sel = (ts >= T0 + 100) & (ts < T0 + 1000)
    rows = [line.split(",") for line in lines[1:]]
    assert [int(r[0]) for r in rows] == ts[sel].tolist()
    assert [float(r[1]) for r in rows] == counter[sel].tolist()
    assert {r[2] for r in rows} == {"0"}
    assert f"{sel.sum()} points" in err
    assert TOKEN not in out + err


def test_dump_json_reports_block_issues_on_stderr(served, capsys):
    server, ts, counter = served
    bad = next(r for r in server.sensors[SID].blocks if r.bid == T0 + 512)
    sel = (ts >= bad.bid) & (ts < bad.end)
    doc = block_document(ts[sel], counter[sel])
    text = orjson.dumps(doc).replace(b'"t":[0,', b'"t":[0,,', 1)
    server.sensors[SID].blocks[bad] = encode_document(text)
    main(["flukso", "dump", SID, "--token", TOKEN, "--api", server.url, "--format", "json"])
    out, err = capsys.readouterr()
    doc = orjson.loads(out)
    assert doc["ts"] == ts.tolist() and doc["counter_wh"] == counter.tolist()
    assert f"bid={T0 + 512}" in err and "empty array element" in err and "repaired" in err
    assert len(doc["issues"]) == 1


def test_dump_with_refused_token_prints_one_line_without_token(served, capsys):
    server, _, _ = served
    wrong = "0000000000000000000000000000dead"
    with pytest.raises(SystemExit) as exc:
        main(["flukso", "dump", SID, "--token", wrong, "--api", server.url])
    assert exc.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and SID in errors[0] and "refused" in errors[0]
    assert wrong not in err


def test_dump_rejects_a_bad_instant(served, capsys):
    server, _, _ = served
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "flukso",
                "dump",
                SID,
                "--token",
                TOKEN,
                "--api",
                server.url,
                "--since",
                "yesterday-ish",
            ]
        )
    assert exc.value.code == 2
    assert "--since" in capsys.readouterr().err


def test_dump_uses_and_fills_a_cache(served, capsys, tmp_path):
    server, ts, _ = served
    cache = str(tmp_path / "c.sqlite")
    args = ["flukso", "dump", SID, "--token", TOKEN, "--api", server.url, "--cache", cache]
    main(args)
    first = capsys.readouterr()
    main(args)
    second = capsys.readouterr()
    assert first.out == second.out and len(first.out.splitlines()) == len(ts) + 1
    assert "0 blocks downloaded" in second.err
