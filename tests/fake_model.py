"""A model's HTTP API on loopback, for an outside client under test that needs a model to call the
lab's tool (opencode, Claude Code): no account, nothing beyond loopback. Each client's module says
what its API answers (`respond`); this one keeps every request and serves the answers."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class LoopbackModel:
    """`tool` is the lab's tool the model's one move calls, with `arguments`; `requests` holds
    every request's JSON body, in order."""

    tool: str
    arguments: dict[str, Any]
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                model.requests.append(body)
                content_type, data = model.respond(body)
                self.send_response(200)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def respond(self, body: dict[str, Any]) -> tuple[str, bytes]:
        """The answer to a request: its media type and bytes."""
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
