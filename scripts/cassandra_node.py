"""Install and run a real Apache Cassandra 5.0 node for tests, benchmarks and development.

    python scripts/cassandra_node.py install                       # once; no-op afterwards
    python scripts/cassandra_node.py start --port 19042 --dir /tmp/vde-cass-dev   # background
    python scripts/cassandra_node.py stop --dir /tmp/vde-cass-dev

Maven Central does not serve the 5.0 binary tarball (``apache-cassandra:<v>:tar.gz:bin``
answers 404 for every 5.0.x), but it does serve the server itself: the artifact
``org.apache.cassandra:cassandra-all`` and its runtime dependencies, which are exactly the
``lib/`` of the tarball. ``install`` resolves them with Maven (strict checksums), checks the
pinned sha512 of the server jar and copies them into ``.cassandra/<version>/lib`` of the
repository. ``start`` writes a private configuration (cassandra.yaml, logback.xml) into a
run folder, picks free ports, launches ``CassandraDaemon`` on JDK 17 with the start-up
flags that make a single node ready in seconds, and polls with the Python driver until
``system.local`` says COMPLETED. Only the pid it started is ever signalled.

Importable: ``install()``, ``start(run_dir, port=None) -> Node``, ``Node.stop()``,
``NodeError``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

VERSION = "5.0.8"
# sha512 of cassandra-all-5.0.8.jar as served by Maven Central (its .sha1 matches too)
SERVER_JAR_SHA512 = (
    "c66c72540f770a25530bce42fc43cbc73cab98fde63368b3e7c2bd3289722a52"
    "fe4cfedd0ddf298d994bd66b992a692407fb40397f6ea705d9ef402ed5e9d273"
)
ROOT = Path(__file__).resolve().parents[1]
INSTALL_DIR = ROOT / ".cassandra" / VERSION
LIB_DIR = INSTALL_DIR / "lib"
MARKER = INSTALL_DIR / ".installed"
DEP_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
JDK_CANDIDATES = ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-arm64")
READY_TIMEOUT_S = 240.0

# Java 17 module access the server needs (the flags of the distribution's jvm17 options)
_JPMS = [
    "-Djdk.attach.allowAttachSelf=true",
    *(
        f"--add-exports={m}=ALL-UNNAMED"
        for m in (
            "java.base/jdk.internal.misc",
            "java.management.rmi/com.sun.jmx.remote.internal.rmi",
            "java.rmi/sun.rmi.registry",
            "java.rmi/sun.rmi.server",
            "java.sql/java.sql",
            "java.base/java.lang.ref",
            "jdk.unsupported/sun.misc",
            "jdk.compiler/com.sun.tools.javac.file",
            "jdk.attach/sun.tools.attach",
        )
    ),
    *(
        f"--add-opens={m}=ALL-UNNAMED"
        for m in (
            "java.base/java.lang.module",
            "java.base/jdk.internal.loader",
            "java.base/jdk.internal.ref",
            "java.base/jdk.internal.reflect",
            "java.base/jdk.internal.math",
            "java.base/jdk.internal.module",
            "java.base/jdk.internal.util.jar",
            "jdk.management/com.sun.management.internal",
            "java.base/sun.nio.ch",
            "java.base/java.io",
            "java.base/java.lang.reflect",
            "jdk.compiler/com.sun.tools.javac",
            "java.base/java.lang",
            "java.base/java.util",
        )
    ),
]
# start-up shortcuts for a lone node (see shared/cassandra.md)
_FAST_START = [
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=1000",
    "-Dcassandra.superuser_setup_delay_ms=0",
    "-Dcassandra.load_ring_state=false",
    "-Dcassandra.system_distributed.default_rf=1",
    "-Dcassandra.system_traces.default_rf=1",
    "-Dcassandra.system_auth.default_rf=1",
]

_LOGBACK = """<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{logdir}/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
  <logger name="org.apache.cassandra" level="INFO"/>
</configuration>
"""


class NodeError(RuntimeError):
    """The node could not be installed or started; the message says why (with log tail)."""


# --- install -----------------------------------------------------------------------------------


def _sha512(path: Path) -> str:
    h = hashlib.sha512()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def install(*, quiet: bool = False) -> Path:
    """Fetch Cassandra into ``.cassandra/<version>/lib`` (no-op when present). Returns lib dir."""
    if MARKER.exists() and (LIB_DIR / f"cassandra-all-{VERSION}.jar").exists():
        return LIB_DIR
    mvn = shutil.which("mvn")
    if mvn is None:
        raise NodeError("Maven (mvn) is not installed: apt-get install maven")
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=INSTALL_DIR) as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(
            '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
            "<groupId>vde</groupId><artifactId>cassandra-node</artifactId><version>1</version>"
            "<packaging>pom</packaging><dependencies><dependency>"
            "<groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId>"
            f"<version>{VERSION}</version></dependency></dependencies></project>\n"
        )
        staging = Path(tmp) / "lib"
        cmd = [
            mvn,
            "-B",
            "-q",
            "-C",  # strict checksums: a corrupted download fails
            "-f",
            str(pom),
            f"{DEP_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        if not quiet:
            print(
                f"fetching Apache Cassandra {VERSION} (cassandra-all + dependencies) with Maven ..."
            )
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise NodeError(
                f"mvn failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}"
            )
        jar = staging / f"cassandra-all-{VERSION}.jar"
        if not jar.exists():
            raise NodeError(f"mvn did not deliver {jar.name}")
        got = _sha512(jar)
        if got != SERVER_JAR_SHA512:
            raise NodeError(
                f"sha512 mismatch for {jar.name}: got {got}, expected {SERVER_JAR_SHA512}"
            )
        if LIB_DIR.exists():
            shutil.rmtree(LIB_DIR)
        shutil.move(str(staging), LIB_DIR)
    MARKER.write_text(json.dumps({"version": VERSION, "sha512": SERVER_JAR_SHA512}) + "\n")
    if not quiet:
        print(f"installed Apache Cassandra {VERSION} in {INSTALL_DIR}")
    return LIB_DIR


# --- run ----------------------------------------------------------------------------------------


def find_java() -> str:
    """A JDK 17 (or 11) java binary: Cassandra 5.0 refuses newer ones."""
    homes = [os.environ.get("CASSANDRA_JAVA_HOME"), *JDK_CANDIDATES, os.environ.get("JAVA_HOME")]
    homes += (
        [str(p) for p in sorted(Path("/usr/lib/jvm").glob("*17*"))]
        if Path("/usr/lib/jvm").is_dir()
        else []
    )
    for home in homes:
        if home and (Path(home) / "bin" / "java").exists() and ("17" in home or "11" in home):
            return str(Path(home) / "bin" / "java")
    raise NodeError(
        "no JDK 17 found: apt-get install openjdk-17-jdk-headless (Cassandra 5.0 needs 11 or 17)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_conf(
    run_dir: Path,
    host: str,
    port: int,
    storage_port: int,
    seeds: str | None = None,
    initial_token: str = "0",
) -> Path:
    conf = run_dir / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    data = run_dir / "data"
    cfg = {
        "cluster_name": "vde-test",
        "num_tokens": 1,
        "initial_token": initial_token,
        "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
        "auto_bootstrap": False,
        "auto_snapshot": False,
        "commitlog_sync": "periodic",
        "commitlog_sync_period": "10000ms",
        "seed_provider": [
            {
                "class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
                "parameters": [{"seeds": seeds or f"{host}:{storage_port}"}],
            }
        ],
        "listen_address": host,
        "rpc_address": host,
        "storage_port": storage_port,
        "native_transport_port": port,
        "start_native_transport": True,
        "endpoint_snitch": "SimpleSnitch",
        "data_file_directories": [str(data / "data")],
        "commitlog_directory": str(data / "commitlog"),
        "saved_caches_directory": str(data / "saved_caches"),
        "hints_directory": str(data / "hints"),
        "cdc_raw_directory": str(data / "cdc_raw"),
        "authenticator": "AllowAllAuthenticator",
        "authorizer": "AllowAllAuthorizer",
        # a test node truncates tables between tests: no snapshot, quick
        "concurrent_compactors": 1,
        "write_request_timeout": "10000ms",
        "read_request_timeout": "10000ms",
        "range_request_timeout": "20000ms",
        "truncate_request_timeout": "60000ms",
        "user_defined_functions_enabled": False,
        "materialized_views_enabled": False,
    }
    # JSON is valid YAML: no YAML library needed to write it
    (conf / "cassandra.yaml").write_text(json.dumps(cfg, indent=1) + "\n")
    (conf / "logback.xml").write_text(_LOGBACK.format(logdir=run_dir / "logs"))
    return conf


@dataclass
class Node:
    host: str
    port: int
    pid: int
    run_dir: Path
    started_s: float = 0.0  # seconds the node took to become ready
    _proc: subprocess.Popen | None = None

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM the node's JVM (this pid only), SIGKILL after ``timeout``."""
        _terminate(self.pid, timeout, self._proc)


def _alive(pid: int, proc: subprocess.Popen | None = None) -> bool:
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of someone else still answers kill 0: check its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return False


def _terminate(pid: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    if not _alive(pid, proc):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid, proc):
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait(10)


def log_tail(run_dir: Path, lines: int = 40) -> str:
    out = []
    for name in ("logs/system.log", "logs/stdout.log"):
        p = run_dir / name
        if p.exists():
            text = p.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {p} (last {len(text)} lines) ---\n" + "\n".join(text))
    return "\n".join(out) or f"(no log in {run_dir}/logs)"


def _ready(host: str, port: int) -> bool:
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
    from cassandra.policies import DCAwareRoundRobinPolicy

    profile = ExecutionProfile(load_balancing_policy=DCAwareRoundRobinPolicy(), request_timeout=5)
    cluster = Cluster(
        [host],
        port=port,
        connect_timeout=3,
        control_connection_timeout=3,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    try:
        session = cluster.connect()
        row = session.execute("SELECT bootstrapped FROM system.local", timeout=5).one()
        return row is not None and row.bootstrapped == "COMPLETED"
    except (NoHostAvailable, OSError):
        return False
    except Exception as exc:  # noqa: BLE001 - any driver error while starting means "not yet"
        return "Timeout" in type(exc).__name__ or "Unavailable" in type(exc).__name__
    finally:
        cluster.shutdown()


def start(
    run_dir: Path | str,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    timeout: float = READY_TIMEOUT_S,
    heap: str = "1G",
    detach: bool = False,
    storage_port: int | None = None,
    seeds: str | None = None,
    initial_token: str = "0",
) -> Node:
    """Start a node whose every file lives under ``run_dir``; return once it serves CQL.

    Raises NodeError with the reason and the tail of the node's log when it dies or is not
    ready within ``timeout`` [s] (and then stops it).
    """
    t0 = time.monotonic()
    lib = install(quiet=True)
    run_dir = Path(run_dir).resolve()
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    (run_dir / "triggers").mkdir(exist_ok=True)
    port = port or free_port()
    storage_port = storage_port or free_port()
    conf = _write_conf(run_dir, host, port, storage_port, seeds, initial_token)
    java = find_java()
    jamm = next(lib.glob("jamm-*.jar"))
    cmd = [
        java,
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-Xmn200M" if heap not in ("256M", "384M") else "-Xmn64M",
        "-XX:+UseG1GC",
        "-Xss256k",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.net.preferIPv4Stack=true",
        f"-javaagent:{jamm}",
        *_JPMS,
        "-Dio.netty.tryReflectionSetAccessible=true",
        f"-Dcassandra.config=file://{conf / 'cassandra.yaml'}",
        f"-Dlogback.configurationFile={conf / 'logback.xml'}",
        f"-Dcassandra.logdir={run_dir / 'logs'}",
        f"-Dcassandra.storagedir={run_dir / 'data'}",
        f"-Dcassandra-pidfile={run_dir / 'cassandra.pid'}",
        "-Dcassandra-foreground=yes",
        f"-Dcassandra.triggers_dir={run_dir / 'triggers'}",
        *_FAST_START,
        "-cp",
        f"{conf}:{lib}/*",
        "org.apache.cassandra.service.CassandraDaemon",
    ]
    env = {**os.environ, "JAVA_HOME": str(Path(java).parents[1]), "CASSANDRA_CONF": str(conf)}
    stdout = (run_dir / "logs" / "stdout.log").open("ab")
    proc = subprocess.Popen(
        cmd,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=run_dir,
        start_new_session=True,  # a Ctrl-C in the test terminal does not reach the JVM first
    )
    stdout.close()
    (run_dir / "node.json").write_text(
        json.dumps({"pid": proc.pid, "host": host, "port": port}) + "\n"
    )
    # the driver logs every refused connection while the node boots: keep the output clean
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if proc.poll() is not None:
                raise NodeError(
                    f"Cassandra exited with code {proc.returncode} while starting\n{log_tail(run_dir)}"
                )
            if _ready(host, port):
                break
            if time.monotonic() > deadline:
                raise NodeError(f"Cassandra not ready after {timeout:.0f} s\n{log_tail(run_dir)}")
            time.sleep(1.0)
    except BaseException:
        _terminate(proc.pid, 30, proc)
        raise
    finally:
        logging.getLogger("cassandra").setLevel(logging.WARNING)
    return Node(
        host=host,
        port=port,
        pid=proc.pid,
        run_dir=run_dir,
        started_s=time.monotonic() - t0,
        _proc=None if detach else proc,
    )


def cluster_tokens(nodes: int) -> list[str]:
    """Evenly spread Murmur3 tokens, one per node (num_tokens 1)."""
    return [str(-(2**63) + i * (2**64 // nodes)) for i in range(nodes)]


def start_cluster(
    run_dir: Path | str,
    *,
    nodes: int = 3,
    port: int | None = None,
    heap: str = "512M",
    timeout: float = READY_TIMEOUT_S,
) -> list[Node]:
    """A cluster on one machine: node i on 127.0.0.i, the same ports, seed = the first.

    Linux routes all of 127.0.0.0/8 to lo, so each node has its own address. Nodes start
    one after the other (a node joins through the seed); each lives in ``run_dir/nodeI``
    and has the token ``cluster_tokens(nodes)[i]``. The cluster's layout is written to
    ``run_dir/cluster.json`` (what ``restart_node`` and the cluster tests read).
    """
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    storage_port = free_port()
    hosts = [f"127.0.0.{i + 1}" for i in range(nodes)]
    seeds = f"{hosts[0]}:{storage_port}"
    tokens = cluster_tokens(nodes)
    started: list[Node] = []
    try:
        for i, host in enumerate(hosts):
            started.append(
                start(
                    run_dir / f"node{i + 1}",
                    port=port,
                    host=host,
                    heap=heap,
                    timeout=timeout,
                    detach=True,
                    storage_port=storage_port,
                    seeds=seeds,
                    initial_token=tokens[i],
                )
            )
    except BaseException:
        for node in started:
            node.stop()
        raise
    layout = {
        "port": port,
        "storage_port": storage_port,
        "seeds": seeds,
        "heap": heap,
        "nodes": [
            {"host": n.host, "pid": n.pid, "dir": str(n.run_dir), "token": tokens[i]}
            for i, n in enumerate(started)
        ],
    }
    (run_dir / "cluster.json").write_text(json.dumps(layout, indent=1) + "\n")
    return started


def restart_node(run_dir: Path | str, index: int, timeout: float = READY_TIMEOUT_S) -> Node:
    """Start node ``index`` (0-based) of a cluster again on its folder (its data kept)."""
    info_path = Path(run_dir) / "cluster.json"
    layout = json.loads(info_path.read_text())
    n = layout["nodes"][index]
    node = start(
        n["dir"],
        port=layout["port"],
        host=n["host"],
        heap=layout["heap"],
        timeout=timeout,
        detach=True,
        storage_port=layout["storage_port"],
        seeds=layout["seeds"],
        initial_token=n["token"],
    )
    n["pid"] = node.pid
    info_path.write_text(json.dumps(layout, indent=1) + "\n")
    return node


def rss_mib(pid: int) -> float:
    """Resident memory of a process [MiB] (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def stop_dir(run_dir: Path | str, timeout: float = 60.0) -> bool:
    """Stop the node started in ``run_dir`` (by its recorded pid). False if none ran."""
    info = Path(run_dir) / "node.json"
    if not info.exists():
        return False
    pid = json.loads(info.read_text())["pid"]
    if not _alive(pid):
        return False
    _terminate(pid, timeout)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install", help="fetch Cassandra into .cassandra/ (no-op when present)")
    st = sub.add_parser("start", help="start a node in the background, print its pid")
    st.add_argument("--port", type=int, default=None, help="CQL port (default: a free one)")
    st.add_argument("--dir", required=True, help="run folder (conf, data, logs)")
    st.add_argument("--host", default="127.0.0.1")
    sp = sub.add_parser("stop", help="stop the node started with --dir")
    sp.add_argument("--dir", required=True)
    cl = sub.add_parser("cluster", help="start a cluster: node i on 127.0.0.i (same ports)")
    cl.add_argument("--dir", required=True, help="run folder (one subfolder per node)")
    cl.add_argument("--nodes", type=int, default=3)
    cl.add_argument("--port", type=int, default=None, help="CQL port of every node")
    cl.add_argument("--heap", default="512M")
    cs = sub.add_parser("cluster-stop", help="stop every node of the cluster in --dir")
    cs.add_argument("--dir", required=True)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "install":
            install()
        elif args.cmd == "start":
            node = start(args.dir, port=args.port, host=args.host, detach=True)
            print(
                f"Cassandra {VERSION} ready on {node.host}:{node.port} in {node.started_s:.1f} s; "
                f"pid {node.pid}; logs in {node.run_dir / 'logs'}\n"
                f"use it in tests: VDE_TEST_CASSANDRA={node.host}:{node.port}"
            )
            print(node.pid)
        elif args.cmd == "cluster":
            nodes = start_cluster(args.dir, nodes=args.nodes, port=args.port, heap=args.heap)
            for n in nodes:
                print(
                    f"node {n.host}:{n.port} ready in {n.started_s:.1f} s, pid {n.pid},"
                    f" RSS {rss_mib(n.pid):.0f} MiB"
                )
            print(f"use it: VDE_TEST_CASSANDRA={nodes[0].host}:{nodes[0].port}")
        elif args.cmd == "cluster-stop":
            for d in sorted(Path(args.dir).glob("node*")):
                print(f"{d.name}: " + ("stopped" if stop_dir(d) else "not running"))
        elif args.cmd == "stop":
            print("stopped" if stop_dir(args.dir) else "no node running there")
    except NodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
