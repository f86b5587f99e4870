"""A real SFTP server on a loopback port for the push tests (asyncssh's server, serving a
folder), in its own thread and event loop. It can drop the connection once, after a given
number of bytes written, like a link that fails mid-upload."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

USER = "lab"
PASSWORD = "pw-" + "x7Kq2" * 4


@dataclass
class ServerState:
    root: Path
    written: int = 0  # bytes the clients wrote, over every connection
    drop_at: int | None = None  # drop the connection once this many bytes are written
    drops: int = 0
    logins: list[str] = field(default_factory=list)


class _Server(asyncssh.SSHServer):
    def __init__(self, state: ServerState) -> None:
        self._state = state

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        ok = username == USER and password == PASSWORD
        if ok:
            self._state.logins.append("password")
        return ok


class _SFTP(asyncssh.SFTPServer):
    def __init__(self, chan, state: ServerState) -> None:
        super().__init__(chan, chroot=str(state.root))
        self._state = state

    def write(self, file_obj, offset: int, data: bytes):
        st = self._state
        if st.drop_at is not None and st.written + len(data) > st.drop_at:
            keep = st.drop_at - st.written
            st.drop_at = None
            st.drops += 1
            if keep > 0:  # what arrived before the link failed is on the disk
                super().write(file_obj, offset, data[:keep])
                st.written += keep
            self.connection.abort()
            raise asyncssh.SFTPConnectionLost("link dropped")
        st.written += len(data)
        return super().write(file_obj, offset, data)


class SftpServer:
    """``with SftpServer(root, client_pub) as srv:`` serves ``root`` on 127.0.0.1:srv.port."""

    def __init__(self, root: Path, client_public_key: str, host_key, known_hosts: Path) -> None:
        self.state = ServerState(root)
        self._pub = client_public_key
        self._host_key = host_key
        self.known_hosts = known_hosts
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    def __enter__(self) -> SftpServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        pub = self._host_key.export_public_key().decode().strip()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {pub}\n")
        return self

    async def _start(self):
        return await asyncssh.create_server(
            lambda: _Server(self.state),
            "127.0.0.1",
            0,
            server_host_keys=[self._host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(self._pub),
            sftp_factory=lambda chan: _SFTP(chan, self.state),
        )

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
