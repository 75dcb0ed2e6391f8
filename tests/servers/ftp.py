"""A pyftpdlib FTP or FTPS server in a thread, with its own IO loop."""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.filesystems import AbstractedFS
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer as _PyFtpServer

from tests.servers.common import HOST, TlsCert, free_port, wait_closed

logging.getLogger("pyftpdlib").setLevel(logging.WARNING)


class _NoOverwriteFS(AbstractedFS):
    """Like servers that refuse RNTO onto an existing file."""

    def rename(self, src: str, dst: str) -> None:
        if os.path.exists(dst):
            raise OSError(errno.EEXIST, "File exists")
        super().rename(src, dst)


class FtpServer:
    def __init__(
        self,
        root: Path,
        *,
        username: str = "bm",
        password: str = "ftp-Pa55word",  # noqa: S107 - a test server login
        cert: TlsCert | None = None,
        refuse_overwrite: bool = False,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        self.cert = cert
        self.tls = cert is not None
        self.refuse_overwrite = refuse_overwrite
        self.host = HOST
        self.port = free_port()
        self._server: _PyFtpServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # Called with the local path of a file the client just renamed into place, e.g. to
        # play a destination that loses bytes (a full disk, a scanner that truncates).
        self.after_rename: Callable[[Path], None] | None = None

    def settings(self, remote_dir: str = "/upload", **overrides) -> dict:
        return {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "remoteDir": remote_dir,
            "tls": self.tls,
            **overrides,
        }

    def files(self, remote_dir: str = "/upload") -> dict[str, bytes]:
        directory = self.root / remote_dir.strip("/")
        return (
            {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()} if directory.exists() else {}
        )

    def _handler(self) -> type[FTPHandler]:
        authorizer = DummyAuthorizer()
        authorizer.add_user(self.username, self.password, str(self.root), perm="elradfmwMT")
        attrs: dict = {"authorizer": authorizer, "banner": "batch-manager test FTP", "timeout": 30}
        attrs["auth_failed_timeout"] = 0.05  # answer a bad login at once (default: 3 s)
        server = self

        class HookedFS(_NoOverwriteFS if self.refuse_overwrite else AbstractedFS):
            def rename(self, src: str, dst: str) -> None:
                super().rename(src, dst)
                if server.after_rename is not None:
                    server.after_rename(Path(dst))

        attrs["abstracted_fs"] = HookedFS
        if self.tls:
            attrs.update(
                certfile=str(self.cert.combined_path),
                tls_control_required=True,
                tls_data_required=True,
                ssl_context=None,
            )
            return type("TestTlsHandler", (TLS_FTPHandler,), attrs)
        return type("TestHandler", (FTPHandler,), attrs)

    def start(self) -> None:
        # Our own IOLoop: pyftpdlib's default is one global loop, which two servers would share.
        self._server = _PyFtpServer((self.host, self.port), self._handler(), ioloop=IOLoop())
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="ftp-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        server = self._server
        while not self._stopping.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    def stop(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._thread.join(10)
            self._thread = None
            self._server = None
            wait_closed(self.port)

    shutdown = stop
