"""A loopback TCP service that is not what the delivery expects: it greets with a banner and
answers every line with the same text. Test connection must say what failed in its own words,
never repeat this text (it could be any internal service's banner)."""

from __future__ import annotations

import socketserver
import threading

from tests.servers.common import HOST, free_port

BANNER = "INTERNAL-SERVICE-BANNER"
# (greeting, reply to every line): each reaches a different error path of the clients.
STYLES = {
    "pop3": ("+OK " + BANNER, "-ERR " + BANNER),
    "ftp-like": ("220 " + BANNER, "500 " + BANNER),
    "refusing": ("220 " + BANNER, "550 " + BANNER),
    "busy": ("220 " + BANNER, "421 " + BANNER),
    "ssh-like": ("SSH-2.0-" + BANNER, BANNER),
    "http": ("", f"HTTP/1.1 500 {BANNER}\r\nContent-Length: {len(BANNER)}\r\nConnection: close\r\n\r\n{BANNER}"),
}


class BannerServer:
    def __init__(self, style: str) -> None:
        self.greeting, self.reply = STYLES[style]
        self.port = free_port()
        self.host = HOST
        self.connections = 0
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                outer.connections += 1
                if outer.greeting:
                    self.wfile.write(outer.greeting.encode() + b"\r\n")
                for _ in range(50):
                    line = self.rfile.readline()
                    if not line:
                        return
                    if outer.greeting or line in (b"\r\n", b"\n"):  # HTTP: one answer per request head
                        self.wfile.write(outer.reply.encode() + b"\r\n")

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server((HOST, self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
