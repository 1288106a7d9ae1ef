"""The limits the README states ("What the lab decides where the specs leave room") are the ones
the code enforces: each phrase, read out of README.md, against the constant that sets it. A limit
changed in the code and not in the README (or the other way round) fails here, naming both."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab_servers import trace_file
from lab_servers.authorization_server import (
    HARDENED,
    authorize,
    client_authentication,
    metadata_limits,
    registration_limits,
    rfc7591,
    server,
    spent_jtis,
    state,
    token_records,
)
from lab_servers.authorization_server import clients as as_clients
from lab_servers.bounded_json import DEFAULT_LIMITS
from lab_servers.browser_origins import MAX_PARAM_HEADER_CHARS, MAX_PARAM_HEADERS
from lab_servers.network import send_buffer
from lab_servers.resource_server import server as resource_server
from lab_servers.resource_server import tokens, tools
from lab_servers.rfc9112 import MAX_EMPTY_LINES
from lab_servers.serve_sockets import (
    MAX_CONNECTIONS,
    MAX_REQUEST_HEAD_BYTES,
    REQUEST_DEADLINE_SECONDS,
    WRITE_STALL_SECONDS,
)
from lab_servers.serve_tls import TLS_HANDSHAKE_SECONDS, TLS_SHUTDOWN_SECONDS
from lab_servers.serve_trace import MAX_SERVED_BODY_CHARS, MAX_SERVED_EXCHANGES, MAX_SERVED_HEADERS
from lab_servers.trace import MAX_TRACED_BODY_BYTES

README = re.sub(r"\s+", " ", (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8"))
KB, HOUR = 1024, 3600

# (the README's words, with (N) where its number stands; what the code has, in the README's unit)
STATED = [
    (r"at most (N) KB \(less where the endpoint says so\)", DEFAULT_LIMITS.max_bytes / KB),
    (r"(N) levels of nesting", DEFAULT_LIMITS.max_depth),
    (r"strings of (N) characters", DEFAULT_LIMITS.max_string_chars),
    (r"numbers of (N) characters", DEFAULT_LIMITS.max_number_chars),
    (r"(N) members; no NaN", DEFAULT_LIMITS.max_members),
    (r"a registration body of \*\*(N) KB\*\*", metadata_limits.MAX_REGISTRATION_BODY_BYTES / KB),
    (r"KB\*\* and (N) levels", rfc7591.REGISTRATION_JSON.max_depth),
    (r"at most \*\*(N) redirect URIs\*\*", metadata_limits.MAX_REDIRECT_URIS),
    (r"other names of \*\*(N) characters\*\*", metadata_limits.MAX_NAME_CHARS),
    (r"URIs of \*\*(N) characters\*\*", metadata_limits.MAX_URI_CHARS),
    (r"(N) grant or response types", metadata_limits.MAX_LIST_ITEMS),
    (r"(N) keys in `jwks`", metadata_limits.MAX_JWKS_KEYS),
    (r"A `client_id` longer than \*\*(N) characters\*\*", as_clients.MAX_CLIENT_ID_CHARS),
    (r"\*\*(N) pending consents\*\*", state.MAX_PENDING_CONSENTS),
    (r"\(each lives (N) minutes\)", authorize.CONSENT_LIFETIME / 60),
    (r"\*\*(N) codes\*\* \(", state.MAX_LIVE_CODES),
    (r"codes\*\* \((N) s\)", authorize.CODE_LIFETIME),
    (r"`exp` may be at most (N) s away", client_authentication.MAX_ASSERTION_LIFETIME),
    (r"most \*\*(N)\*\* unexpired client assertions' `jti`", spent_jtis.MAX_SPENT_JTIS),
    (r"keeps counts for at most \*\*(N) source addresses\*\*", registration_limits.MAX_REMEMBERED_SOURCES),
    (r"\*\*Refresh tokens last (N) h, absolute\*\*", token_records.REFRESH_TOKEN_LIFETIME / HOUR),
    (r"\*\*expire after (N) h unused\*\*", token_records.REFRESH_TOKEN_IDLE_TIMEOUT / HOUR),
    (r"\*\*(N) unexpired access tokens\*\*", token_records.MAX_LIVE_ACCESS_TOKENS),
    (r"\*\*(N) refresh tokens\*\* are remembered", token_records.MAX_REFRESH_TOKENS),
    (r"\*\*(N) notes\*\*", tools.MAX_NOTES),
    (r"notes\*\* of at most \*\*(N) characters\*\*", tools.MAX_NOTE_CHARS),
    (r"latest \*\*(N) exchanges\*\*", MAX_SERVED_EXCHANGES),
    (r"first \*\*(N) headers\*\*", MAX_SERVED_HEADERS),
    (r"\*\*(N) characters\*\* of each body", MAX_SERVED_BODY_CHARS),
    (r"bodies up to the trace's (N) KiB", MAX_TRACED_BODY_BYTES / KB),
    (r"the\s+file\s+stops growing at \*\*(N) MiB\*\*", trace_file.DEFAULT_MAX_BYTES / KB / KB),
    (r"at most \*\*(N) s\*\* to finish its TLS handshake", TLS_HANDSHAKE_SECONDS),
    (r"then at most \*\*(N) s\*\* for a request to arrive whole", REQUEST_DEADLINE_SECONDS),
    (r"\(at most (N) KiB, else \*\*414\*\*", MAX_REQUEST_HEAD_BYTES / KB),
    (r"after at most (N) empty lines, else \*\*400\*\*", MAX_EMPTY_LINES),
    (r"once they have waited \*\*(N) s\*\*", WRITE_STALL_SECONDS),
    (r"at most \*\*(N) s\*\* for the client's close_notify", TLS_SHUTDOWN_SECONDS),
    (r"at most \*\*(N) connections\*\*", MAX_CONNECTIONS),
    (r"\*\*(N) KB\*\* at the AS", server.MAX_REQUEST_BODY_BYTES / KB),
    (r"\*\*(N) KB\*\* at the MCP endpoint", resource_server.MAX_MCP_BODY_BYTES / KB),
    (r"Traces keep at most \*\*(N) KB\*\* of each body", MAX_TRACED_BODY_BYTES / KB),
    (r"a \*\*(N) KB send buffer\*\*", send_buffer.SEND_BUFFER / KB),
    (r"at the same (N) KB as the wire bytes", HARDENED.max_document_bytes / KB),
    (r"the AS's (N) s CIMD fetch timeout", HARDENED.fetch_timeout_seconds),
    (r"at most \*\*(N) such headers\*\*", MAX_PARAM_HEADERS),
    (r"a field name of at most \*\*(N) characters\*\*", MAX_PARAM_HEADER_CHARS),
]


@pytest.mark.parametrize(("phrase", "enforced"), STATED, ids=[phrase for phrase, _ in STATED])
def test_the_readme_states_the_limit_the_code_enforces(phrase: str, enforced: float) -> None:
    found = re.search(phrase.replace("(N)", r"([\d,.]+)"), README)
    assert found is not None, f"the README no longer says {phrase!r}"
    assert float(found[1].replace(",", "")) == enforced, f"the README says {found[0]!r}; the code has {enforced:g}"


def test_the_readme_states_how_often_the_mcp_server_refetches_the_keys() -> None:
    assert "re-fetches the AS's JWKS for an unknown `kid` at most **once a minute**" in README
    assert tokens.JWKS_REFRESH_INTERVAL == 60
