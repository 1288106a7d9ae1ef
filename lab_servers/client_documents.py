"""Client ID Metadata Documents that `python -m lab_servers serve` publishes for the clients people
actually point at the lab, each listing the redirect URIs that client really listens on.

A CIMD `client_id` is the document's own URL (CIMD §3), and the AS compares `redirect_uri`
with the document's list as exact strings (OAuth 2.1 §4.1.1): a web UI opened as `localhost`
sends a different string from one opened as `127.0.0.1`, so both forms are listed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .authorization_server.client_ids import judge_published_document
from .authorization_server.errors import OAuthError
from .authorization_server.state import AuthorizationServerState
from .bounded_json import parse_json
from .local_files import read_regular_file
from .metadata_host import document_body
from .rfc7517 import import_jwk_set, private_key_member


@dataclass(frozen=True)
class ReadyDocument:
    path: str
    client_name: str
    redirect_uris: tuple[str, ...]
    who: str

    def document(self, client_id: str) -> dict[str, Any]:
        return {
            "client_id": client_id,
            "client_name": self.client_name,
            "redirect_uris": list(self.redirect_uris),
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            # Public clients: CIMD §4.1 forbids shared secrets in a document.
            "token_endpoint_auth_method": "none",
        }


READY_DOCUMENTS = (
    # Inspector v2's web UI: `${window.location.origin}/oauth/callback` on port 6274.
    ReadyDocument(
        "/inspector-web.json", "MCP Inspector (web UI)",
        ("http://127.0.0.1:6274/oauth/callback", "http://localhost:6274/oauth/callback"),
        "MCP Inspector web UI (npx @modelcontextprotocol/inspector --web)",
    ),
    # Inspector v2's CLI and TUI: a loopback listener on 6276.
    ReadyDocument(
        "/inspector-cli.json", "MCP Inspector (CLI)", ("http://127.0.0.1:6276/oauth/callback",),
        "MCP Inspector CLI/TUI (--cli … --client-metadata-url)",
    ),
    # mcp-remote (Claude Desktop, Cursor, Windsurf): `http://localhost:<port>/oauth/callback`, the
    # port passed after the server URL (the README's 3334; any port works, OAuth 2.1 §8.4.2), or
    # 127.0.0.1 with `--host 127.0.0.1`.
    ReadyDocument(
        "/mcp-remote.json", "mcp-remote",
        ("http://localhost:3334/oauth/callback", "http://127.0.0.1:3334/oauth/callback"),
        "mcp-remote (… 3334 --client-metadata-url)",
    ),
    # The Python SDK's example client (examples/clients/simple-auth-client) listens on 3030.
    ReadyDocument(
        "/sdk-client.json", "MCP SDK example client",
        ("http://localhost:3030/callback", "http://127.0.0.1:3030/callback"),
        "the mcp SDK's simple-auth-client example",
    ),
    # FastMCP's client (`fastmcp.client.auth.OAuth`) listens on `http://localhost:<port>/callback`,
    # on a random port unless told one; the AS takes any port on a loopback redirect URI (OAuth
    # 2.1 §8.4.2), so the 8765 named here is only the README's suggestion.
    ReadyDocument(
        "/fastmcp-client.json", "FastMCP client",
        ("http://localhost:8765/callback", "http://127.0.0.1:8765/callback"),
        "FastMCP's client (OAuth(client_metadata_url=…, callback_port=8765))",
    ),
    # OpenAI's Codex CLI takes a client id given beforehand (`codex mcp add … --oauth-client-id
    # <this URL>`) as-is, and listens on `http://127.0.0.1:<ephemeral port>/callback` (a path of
    # its own per sign-in where the AS does not advertise RFC 9207's `iss`): the port-less form,
    # as OpenAI's own Codex document lists it, matches any port (OAuth 2.1 §8.4.2).
    ReadyDocument(
        "/codex.json", "Codex CLI", ("http://127.0.0.1/callback", "http://localhost/callback"),
        "OpenAI's Codex CLI (codex mcp add … --oauth-client-id)",
    ),
    # opencode takes a client id given beforehand (`"oauth": {"clientId": <this URL>}` in
    # opencode.json) as-is, and listens on a fixed port, 19876 (`callbackPort` moves it; the AS
    # takes any port on a loopback redirect URI, OAuth 2.1 §8.4.2). It never sends a CIMD
    # client id of its own.
    ReadyDocument(
        "/opencode.json", "OpenCode", ("http://127.0.0.1:19876/mcp/oauth/callback",),
        'opencode ("oauth": {"clientId": …} in opencode.json)',
    ),
    # Google's Gemini CLI sends a client id given in settings.json (`"oauth": {"clientId": <this
    # URL>}`) as-is, and listens on `http://localhost:<ephemeral port>/oauth/callback`: the
    # port-less form matches any port (OAuth 2.1 §8.4.2); 127.0.0.1 for `"redirectUri"`.
    ReadyDocument(
        "/gemini-cli.json", "Gemini CLI", ("http://localhost/oauth/callback", "http://127.0.0.1/oauth/callback"),
        "Google's Gemini CLI (settings.json: \"oauth\": {\"clientId\": …})",
    ),
    # Anthropic's Claude Code sends its own document's URL (on claude.ai, which the served AS never
    # fetches) unless given a client id (`claude mcp add … --client-id <this URL>`), which it sends
    # as-is; it listens on `http://localhost:<ephemeral port>/callback` (`--callback-port` fixes
    # the port): the port-less form matches any port (OAuth 2.1 §8.4.2).
    ReadyDocument(
        "/claude-code.json", "Claude Code", ("http://localhost/callback", "http://127.0.0.1/callback"),
        "Anthropic's Claude Code (claude mcp add … --client-id)",
    ),
)  # fmt: skip


class ClientDocumentError(ValueError):
    pass


# RFC 3986 §2.3's unreserved characters: a file name served as a URL path segment as it is.
_URL_SAFE_NAME = re.compile(r"[A-Za-z0-9._~-]+")


def read_client_document(
    path: Path, url_for: Callable[[str], str], auth_server: AuthorizationServerState
) -> tuple[str, bytes]:
    """A user's own document from `path`, to be published at `/<file name>` for `auth_server`;
    returns (url, the bytes to serve), or refuses it, naming the rule, as the AS would refuse it at
    a client's /authorize: README's banner lists under "Client ids you can use" only what the AS
    then accepts.

    A missing `client_id` is filled in with the URL it will be served at; a different one is an
    error now rather than an `invalid_client` later (CIMD §4: it MUST equal the URL exactly).
    A document over the most the AS fetches (CIMD §8.7) is refused unread: a path such as
    /dev/zero never ends."""
    max_bytes = auth_server.policy.max_document_bytes
    try:
        data = read_regular_file(path, max_bytes)
        # Read with the bounded parser (no duplicate names, no NaN), so that a rule it breaks is
        # named with this file's own text; the AS's reading of the served bytes follows below.
        document = None if len(data) > max_bytes else parse_json(data, what="the document")
    except (OSError, ValueError) as exc:
        raise ClientDocumentError(f"--client-document {path}: {exc}") from None
    if document is None:
        raise ClientDocumentError(
            f"--client-document {path}: over {max_bytes} bytes, more than the AS fetches of a document (CIMD §8.7)"
        )
    if not isinstance(document, dict):
        raise ClientDocumentError(f"--client-document {path}: a client metadata document is a JSON object")
    if not _URL_SAFE_NAME.fullmatch(path.name):
        # RFC 3986 §3.3: a path segment; a space, '#' or '?' in the name made a client_id no
        # request could reach (a fragment, CIMD §3), and the banner advertised it all the same.
        raise ClientDocumentError(
            f"--client-document {path}: its file name is served as the client_id's last path segment, so it takes "
            "letters, digits and - . _ ~ only (RFC 3986 §2.3, §3.3)"
        )
    url = url_for(f"/{path.name}")
    if document.setdefault("client_id", url) != url:
        raise ClientDocumentError(
            f"--client-document {path}: client_id {document['client_id']!r} must be exactly the URL it is served at, {url!r} (CIMD §4)"
        )
    if found := private_key_member(document.get("jwks")):
        # Refused whatever the AS's policy (the naive AS takes it): the host serves the document to
        # anyone who asks, and the private key with it.
        raise ClientDocumentError(
            f"--client-document {path}: jwks contains private key material ({found}), which the documents host "
            "would serve to anyone; a document publishes public keys only (CIMD §4.1, RFC 7517 §4)"
        )
    if "jwks" in document:
        # Read as every lab server reads a published set, whatever the policy: with CIMD off no AS
        # reads the document, but the host serves it to anyone as the client's keys, and a bare
        # JWK or a list of keys in it was published as they were.
        try:
            import_jwk_set(document["jwks"])
        except ValueError as exc:
            raise ClientDocumentError(
                f"--client-document {path}: jwks, which the documents host would serve as the client's keys, is {exc}"
            ) from None
    body = document_body(document)  # what the host serves: its client_id filled in, written with indents
    if len(body) > max_bytes:
        raise ClientDocumentError(
            f"--client-document {path}: {len(body)} bytes as served (its client_id filled in, written with indents), "
            f"over the {max_bytes} the AS fetches of a document (CIMD §8.7)"
        )
    if auth_server.capabilities.cimd_usable:
        # The AS's own checks of the id, the served bytes and the URLs inside: the same code as its
        # fetch runs. With CIMD off (--http, --no-cimd) it refuses every URL client_id unread, and
        # the banner lists no document, saying that CIMD is off and why.
        try:
            judge_published_document(url, body, auth_server.cimd)
        except OAuthError as refused:
            raise ClientDocumentError(
                f"--client-document {path}: the AS would refuse {url} as a client_id ({refused.error}): "
                f"{refused.description}"
            ) from None
    return url, body
