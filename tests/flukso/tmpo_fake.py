"""A tiny tmpo API over real HTTP on 127.0.0.1, with faults the tests control exactly.

It serves blocks built with ``vde.flukso.encode_block``; ``newer`` picks how the server reads
"blocks newer than the block named in the query" (by start, by end, or by tuple order), so
the client's sync query is checked against every reasonable reading of the spec.
"""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import orjson

from vde.flukso import BlockRef, encode_block

T0 = 1_700_000_000 - 1_700_000_000 % (1 << 20)  # start of a level-20 span (Nov 2023)


@dataclass
class FakeSensor:
    token: str
    blocks: dict[BlockRef, bytes] = field(default_factory=dict)


@dataclass
class Fault:
    """Served instead of the real answer to the next request whose path contains ``match``."""

    match: str
    kind: str  # "500", "503", "429", "drop", "truncate", "slow"
    retry_after: str | None = None


class TmpoServer:
    def __init__(self, newer: str = "start") -> None:
        self.newer = newer
        self.sensors: dict[str, FakeSensor] = {}
        self.faults: list[Fault] = []
        self.paths: list[str] = []
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.url = ""
        self.ca_bundle: Path | None = None

    # --- content ----------------------------------------------------------------------
    def add_sensor(self, sensor_id: str, token: str) -> FakeSensor:
        return self.sensors.setdefault(sensor_id, FakeSensor(token))

    def put_points(
        self, sensor_id: str, ts, counter, *, rid: int = 0, lvl: int = 8
    ) -> list[BlockRef]:
        """Store points as blocks of one level (grouped by span); returns the refs."""
        ts = np.asarray(ts, dtype=np.int64)
        counter = np.asarray(counter, dtype=np.float64)
        sensor = self.sensors[sensor_id]
        bids = ts - ts % (1 << lvl)
        refs = []
        for bid in np.unique(bids):
            sel = bids == bid
            ref = BlockRef(rid, lvl, int(bid))
            sensor.blocks[ref] = encode_block(ts[sel], counter[sel])
            refs.append(ref)
        return refs

    def compact(self, sensor_id: str, parent: BlockRef, ts, counter) -> None:
        """Replace every block inside ``parent``'s span by ``parent`` holding those points."""
        sensor = self.sensors[sensor_id]
        for ref in [r for r in sensor.blocks if parent.covers(r)]:
            del sensor.blocks[ref]
        ts = np.asarray(ts, dtype=np.int64)
        sel = (ts >= parent.bid) & (ts < parent.end)
        sensor.blocks[parent] = encode_block(ts[sel], np.asarray(counter)[sel])

    def block_requests(self) -> int:
        return sum(1 for p in self.paths if "/tmpo/sync" not in p)

    # --- serving ----------------------------------------------------------------------
    def listing(self, sensor: FakeSensor, rid: int, lvl: int, bid: int) -> list[dict]:
        def newer(r: BlockRef) -> bool:
            if (rid, lvl, bid) == (0, 0, 0):
                return True
            if r.rid != rid:
                return r.rid > rid
            if self.newer == "start":
                return r.bid > bid
            if self.newer == "end":
                return r.end > bid + (1 << lvl)
            return (r.lvl, r.bid) > (lvl, bid)  # tuple order

        refs = sorted((r for r in sensor.blocks if newer(r)), key=lambda r: (r.rid, r.bid))
        return [{"rid": r.rid, "lvl": r.lvl, "bid": r.bid, "ext": "gz"} for r in refs]

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for i, f in enumerate(self.faults):
                if f.match in path:
                    return self.faults.pop(i)
        return None


def _handler(server: TmpoServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def send(self, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with server.lock:
                server.paths.append(self.path)
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                self.route()
            finally:
                with server.lock:
                    server.in_flight -= 1

        def route(self) -> None:
            if server.delay:
                time.sleep(server.delay)
            url = urlparse(self.path)
            parts = url.path.strip("/").split("/")
            if len(parts) < 4 or parts[0] != "sensor" or parts[2] != "tmpo":
                return self.send(404, b"{}", "application/json")
            sensor = server.sensors.get(parts[1])
            if sensor is None:
                return self.send(404, b'{"error":"unknown sensor"}', "application/json")
            if self.headers.get("X-Token") != sensor.token:
                return self.send(403, b'{"error":"forbidden"}', "application/json")
            assert self.headers.get("X-Version") == "1.0"
            fault = server.take_fault(self.path)
            if fault is not None and fault.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return None
            if fault is not None and fault.kind in ("500", "503", "429"):
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else None
                return self.send(int(fault.kind), b"busy", "text/plain", extra)
            if parts[3] == "sync":
                assert self.headers.get("Accept") == "application/json"
                q = {k: int(v[0]) for k, v in parse_qs(url.query).items()}
                body = orjson.dumps(server.listing(sensor, q["rid"], q["lvl"], q["bid"]))
                if fault is not None and fault.kind == "truncate":
                    body = body[: len(body) // 2]
                return self.send(200, body, "application/json")
            assert self.headers.get("Accept") == "application/gzip"
            ref = BlockRef(int(parts[3]), int(parts[4]), int(parts[5]))
            data = sensor.blocks.get(ref)
            if data is None:
                return self.send(404, b'{"error":"no such block"}', "application/json")
            if fault is not None and fault.kind == "truncate":
                data = data[: len(data) // 2]
            return self.send(200, data, "application/gzip")

    return Handler


def meter_points(start: int, end: int, *, seed: int = 0, pulse: float | None = None):
    """Irregular counter points in [start, end): 1-30 s apart, fractional Wh (3 decimals)."""
    rng = np.random.default_rng(seed)
    gaps = rng.integers(1, 31, size=(end - start) // 1 + 1)
    ts = start + np.concatenate([[0], np.cumsum(gaps)])
    ts = ts[ts < end]
    if pulse is None:
        inc = np.round(rng.random(len(ts)) * 3.0, 3)
    else:
        inc = np.full(len(ts), pulse)
    inc[0] = 0
    counter = np.round(12345.678 + np.cumsum(inc), 3)
    return ts.astype(np.int64), counter


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return  # refused TLS handshakes are expected in the TLS test


def serve(server: TmpoServer, tls: ssl.SSLContext | None = None) -> Iterator[TmpoServer]:
    httpd = _QuietServer(("127.0.0.1", 0), _handler(server))
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    server.url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA (like Flukso's) and a 127.0.0.1 certificate it signed (openssl CLI).

    Returns (ca.pem, server.pem, server.key).
    """

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Test Flukso CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    )
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"
