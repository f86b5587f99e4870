"""The simulator on hypercorn over TLS: HTTP/2 and HTTP/1.1 offered by ALPN.

uvicorn speaks HTTP/1.1 only; an API that speaks HTTP/2 (and what the Flukso client does
with one) is reproduced here with hypercorn in a background thread of its own event loop.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from vde.errors import VdeError


def start_hypercorn(
    app: object, host: str, port: int, certfile: str | Path, keyfile: str | Path
) -> tuple[str, Callable[[], None]]:
    """Serve the ASGI ``app`` over TLS on ``host:port`` (0 = a free port).

    Returns (``https://host:port``, a function stopping the server and its thread).
    """
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.certfile = str(certfile)
    config.keyfile = str(keyfile)
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = None
    config.errorlog = None
    config.keep_alive_timeout = 30
    config.graceful_timeout = 2
    # bind here, so the port is known before the thread starts; hypercorn adopts the fd
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise VdeError(f"simulator could not start on {host}:{port}: {exc}") from exc
    bound = sock.getsockname()
    config.bind = [f"fd://{sock.detach()}"]
    loop = asyncio.new_event_loop()
    done = asyncio.Event()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def main() -> None:
            loop.call_soon(started.set)
            await serve(app, config, shutdown_trigger=done.wait, mode="asgi")

        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            failure.append(exc)
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True, name="vde-simulator-tls")
    thread.start()
    started.wait(10)
    if failure:
        raise VdeError(f"simulator could not start over TLS: {failure[0]}") from failure[0]

    def stop() -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(done.set)
        thread.join(timeout=10)

    return f"https://{bound[0]}:{bound[1]}", stop
