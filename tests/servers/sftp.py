"""An asyncssh SFTP server in a thread with its own event loop.

Password and public-key auth for one user, a chroot-ish root directory, a
generated ed25519 host key, posix-rename on by default (switch it off to test
the fallback), and an optional delay per write, and a gate to hold an upload mid-way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import asyncssh

from tests.servers.common import HOST, free_port, wait_closed


def generate_keypair(alg: str = "ssh-ed25519") -> tuple[str, str]:
    """(OpenSSH private key text, public key line) for a client or a host."""
    key = asyncssh.generate_private_key(alg)
    return key.export_private_key("openssh").decode(), key.export_public_key("openssh").decode().strip()


class SftpServer:
    def __init__(
        self,
        root: Path,
        *,
        username: str = "bm",
        password: str = "s3cret-Pa55",  # noqa: S107 - a test server login
        authorized_keys: tuple[str, ...] = (),
        posix_rename: bool = True,
        write_delay: float = 0.0,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        self.authorized_keys = list(authorized_keys)
        self.posix_rename = posix_rename
        self.write_delay = write_delay
        # To hold an upload mid-way: `write_seen` is set by the first write, which then
        # waits for `write_gate` (when one is set) before it completes.
        self.write_seen = threading.Event()
        self.write_gate: threading.Event | None = None
        # Called with the local path of a file the client just renamed into place, e.g. to
        # play a destination that loses bytes (a full disk, a scanner that truncates).
        self.after_rename: Callable[[Path], None] | None = None
        self.host = HOST
        self.port = free_port()
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sftp-server", daemon=True)
        self._thread.start()
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()

    # --- what tests use ----------------------------------------------------------------------

    @property
    def host_key_line(self) -> str:
        """The server's public host key, as an integration's hostKey setting holds it."""
        return self._host_key.export_public_key("openssh").decode().strip()

    def replace_host_key(self) -> None:
        """Give the server a new host key (as after a reinstall, or an attacker in the middle)."""
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        if self._acceptor is not None:
            self.stop()
            self.start()

    def settings(self, remote_dir: str = "/upload", **overrides) -> dict:
        return {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "remoteDir": remote_dir,
            "hostKey": self.host_key_line,
            **overrides,
        }

    def files(self, remote_dir: str = "/upload") -> dict[str, bytes]:
        """Every file in a remote directory (hidden temporary names included), by name."""
        directory = self.root / remote_dir.strip("/")
        return (
            {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()} if directory.exists() else {}
        )

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        wait_closed(self.port)

    def shutdown(self) -> None:
        if self._acceptor is not None:
            self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    # --- inside the loop ---------------------------------------------------------------------

    async def _listen(self) -> None:
        server = self

        class Auth(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                server._connections.add(conn)

            def connection_lost(self, exc: Exception | None) -> None:
                pass

            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return username == server.username and password == server.password

            def public_key_auth_supported(self) -> bool:
                return bool(server.authorized_keys)

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                offered = key.export_public_key("openssh").decode().split()[:2]
                return username == server.username and any(
                    line.split()[:2] == offered for line in server.authorized_keys
                )

        class Sftp(asyncssh.SFTPServer):
            async def write(self, file_obj, offset, data):
                server.write_seen.set()
                if server.write_gate is not None:
                    await asyncio.get_running_loop().run_in_executor(None, server.write_gate.wait, 10)
                if server.write_delay:
                    await asyncio.sleep(server.write_delay)
                return super().write(file_obj, offset, data)

            def posix_rename(self, oldpath: bytes, newpath: bytes):
                if not server.posix_rename:
                    raise asyncssh.SFTPOpUnsupported("posix-rename not supported")
                result = super().posix_rename(oldpath, newpath)
                self._renamed(newpath)
                return result

            def rename(self, oldpath: bytes, newpath: bytes):
                result = super().rename(oldpath, newpath)
                self._renamed(newpath)
                return result

            def _renamed(self, newpath: bytes) -> None:
                if server.after_rename is not None:
                    server.after_rename(Path(self.map_path(newpath).decode()))

        self._acceptor = await asyncssh.listen(
            self.host,
            self.port,
            server_host_keys=[self._host_key],
            server_factory=Auth,
            sftp_factory=lambda chan: Sftp(chan, chroot=str(self.root)),
            allow_scp=False,
            reuse_address=True,
        )

    async def _close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        for conn in list(self._connections):
            conn.close()
        self._connections.clear()
