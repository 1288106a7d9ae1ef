"""The limits the README states ("What the lab decides where the specs leave room") are the ones
the code enforces: each phrase, read out of README.md, against the constant that sets it. A limit
changed in the code and not in the README (or the other way round) fails here, naming both. So are
the homes its table "Where each spec rule lives" names: each file and name there exists, and each
module of the lab that opens by stating a spec rule is named there."""

from __future__ import annotations

import ast
import importlib
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


ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lab_servers"


def _where(home: str) -> Path:
    return ROOT / home if home.startswith("tests/") else PACKAGE / home


def _rule_homes() -> tuple[set[str], set[str]]:
    """The table's files (relative to lab_servers/, or tests/…) and its `module.name`s. A cell
    names a folder once (`authorization_server/rfc7591.py`, `reject_or_replace.py`): a bare file
    name is in the last folder named before it when it is there, else at the package's root."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| Spec | Where |") : text.index("## The terminal demo")]
    files, names = set(), set()
    for row in table.splitlines()[2:]:
        if not row.startswith("|"):
            continue
        folder = ""
        for found in re.finditer(r"`([\w/]+\.py|[\w/]+/)`|`(\w+)\.(\w+)`", row.rsplit("|", 2)[1]):
            if found[2]:
                names.add(f"{folder}{found[2]}.{found[3]}")
            elif "/" in found[1].rstrip("/"):
                folder = found[1].rsplit("/", 1)[0] + "/"
                files.add(found[1])
            else:
                files.add(folder + found[1] if _where(folder + found[1]).exists() else found[1])
    return files, names


def test_every_file_and_name_the_readme_gives_as_a_spec_rules_home_exists() -> None:
    files, names = _rule_homes()
    missing = [f for f in files if not _where(f).exists()]
    assert len(files) > 50 and missing == []
    for dotted in names:
        module, name = dotted.rsplit(".", 1)
        candidates = [module.replace("/", "."), module.rsplit("/", 1)[-1]]
        assert any(
            (PACKAGE / f"{c.replace('.', '/')}.py").exists()
            and hasattr(importlib.import_module(f"lab_servers.{c}"), name)
            for c in candidates
        ), f"the README names {dotted} as a rule's home"


# A spec rule stated in a module's opening paragraph: "RFC 7591 §3", "OAuth 2.1 §3.1", "CIMD §3",
# "MCP §11.3", "JSON-RPC 2.0 §5.1"; or a module named after its RFC.
_STATES_A_RULE = re.compile(r"(?:RFC \d{4}|OAuth 2\.1|CIMD(?: -\d\d)?|MCP(?: \d{4}-\d\d-\d\d)?|JSON-RPC 2\.0) §\d")
# What teaches rather than enforces: the views, the widgets and the security experiments.
_TEACHING = ("views", "widgets", "security")


def test_every_module_that_states_a_spec_rule_is_a_home_in_the_readme_table() -> None:
    """The README: every rule is enforced in one place, and the table is how a maintainer finds it.
    A module left out of it (the client's WWW-Authenticate parser, RFC 3986 against a browser's URL
    parser, DCR behind an initial access token) is one they grep for or never find."""
    files, _ = _rule_homes()
    homes = {f for f in files if not f.startswith("tests/")}
    unnamed = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if (
            relative.split("/")[0] in _TEACHING
            or relative in homes
            or any(relative.startswith(h) for h in homes if h.endswith("/"))
        ):
            continue
        opening = (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "").split("\n\n")[0]
        if _STATES_A_RULE.search(opening) or re.fullmatch(r"rfc\d+(?:_\w+)?\.py", path.name):
            unnamed.append(relative)
    assert unnamed == [], f"modules that state a spec rule, not in the README's table: {unnamed}"
