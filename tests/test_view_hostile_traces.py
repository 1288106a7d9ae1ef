"""The views of what strangers put in a trace (served mode, a trace file): drawn, never a crash,
and their text/plain, which a terminal prints, shows escape codes and bidi overrides as escapes."""

from __future__ import annotations

import base64
import json

from lab_servers import Exchange
from lab_servers.views import sequence_diagram, show_consent, show_exchange, show_token

# ESC [2J clears a terminal, ESC ]0;… sets its title; U+202E makes "/mcp/\u202egpj.exe" read "/mcp/exe.jpg".
CONTROLS = "\x1b[2J\x1b]0;owned\x07\u202e"


def stranger(caller: str, host: str, path: str = "/mcp") -> Exchange:
    return Exchange(
        seq=1, step=None, caller=caller, host=host, address="127.0.0.1", method="GET",
        url=f"https://{host}{path}", request_headers=(), request_body="", status=404, response_headers=(),
        response_body="", done=1,
    )  # fmt: skip


def test_a_stranger_whose_user_agent_names_the_host_it_called_is_drawn_as_a_message_to_itself() -> None:
    # Served mode names the caller by its User-Agent and the host by its Host field: a stranger
    # sending both as mcp.example.com made the SVG's layout divide by zero (a span of no gap).
    diagram = sequence_diagram([stranger("mcp.example.com", "mcp.example.com")])
    assert "MCP->>MCP: GET /mcp" in diagram.mermaid
    assert "GET /mcp" in diagram.svg and diagram.html.startswith("<div")


def test_every_views_text_shows_a_strangers_control_characters_as_escapes() -> None:
    # Exchange.summary is safe to print; the views' text/plain (print(view), a REPL) was not,
    # and the diagram's <img> alt text carried the bidi override itself.
    exchange = stranger(f"agent{CONTROLS}", "mcp.example.com", f"/mcp/{CONTROLS}")
    claims = base64.urlsafe_b64encode(json.dumps({"sub": CONTROLS}).encode()).rstrip(b"=").decode()
    diagram = sequence_diagram([exchange])
    texts = [repr(show_exchange(exchange)), repr(diagram), repr(show_token(f"e30.{claims}.sig"))]
    texts += [repr(show_consent(f"<p>{CONTROLS}</p>"))]
    for text in texts:
        assert text.isprintable() and r"\x1b" in text and r"\u202e" in text, text
    assert "\u202e" not in diagram.html and r"\u202e" in diagram.html
