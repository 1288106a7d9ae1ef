"""The revisions of MCP authorization, as data: what each one asks of clients and servers.

Every role reads its behaviour from a `Revision` here, so that a lab can run a client of one
revision against servers of another and show what the specs say happens. The flags are the
differences that matter to the handshake, each with the revision (and SEP or PR) that brought it:

| revision   | what changed for authorization                                                         |
|------------|----------------------------------------------------------------------------------------|
| 2025-03-26 | OAuth 2.1; the MCP server's origin is the authorization base URL; default endpoints     |
| 2025-06-18 | RS only: Protected Resource Metadata (RFC 9728) and RFC 8707 `resource` MUST             |
| 2025-11-25 | CIMD SHOULD (SEP-991); PRM header → path → root (SEP-985); OIDC discovery; step-up      |
| 2026-07-28 | DCR deprecated, `application_type` (SEP-837); RFC 9207 `iss` MUST be checked (SEP-2468);|
|            | credentials keyed by issuer (SEP-2352); scope union (SEP-2350); `offline_access`        |
|            | (SEP-2207); Streamable HTTP without `initialize` (SEP-2575, SEP-2243)                  |
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .arguments import wrong_type

DEFAULT_REVISION = "2026-07-28"
# The revision before: one argument away (`Lab(revision=PREVIOUS_REVISION)`).
PREVIOUS_REVISION = "2025-11-25"


@dataclass(frozen=True)
class Revision:
    version: str
    # 2025-06-18 §2.3: the RS publishes RFC 9728 metadata; before, the MCP origin *was* the AS.
    protected_resource_metadata: bool
    # 2025-11-25 §4.2 (SEP-985): probe well-known PRM URLs when the 401 names none.
    prm_well_known_probe: bool
    # 2025-11-25 §4.3: OpenID Connect discovery URLs besides RFC 8414's.
    oidc_discovery: bool
    # 2025-06-18 §2.5.1 (PR #734): RFC 8707 `resource` on authorization and token requests.
    resource_parameter: bool
    # 2025-11-25 §5.1 (SEP-991): Client ID Metadata Documents, SHOULD.
    cimd: bool
    # 2026-07-28 client-registration §3 (PR #2858): DCR kept for compatibility, deprecated.
    dcr_deprecated: bool
    # 2026-07-28 client-registration §3.1 (SEP-837): DCR requests carry application_type.
    application_type: bool
    # 2026-07-28 index §7.1 (SEP-2468): check RFC 9207 `iss` before redeeming the code.
    iss_check: bool
    # 2026-07-28 client-registration §4 (SEP-2352): credentials keyed by issuer, re-register on move.
    credentials_per_issuer: bool
    # 2025-11-25 §10.1 (SEP-835): step-up on 403 insufficient_scope.
    step_up: bool
    # 2026-07-28 index §11.1.2 (SEP-2350): step-up asks for prior + challenged scopes, and the
    # RS challenges with this operation's scopes only (before: the RS accumulated, §10.1.1).
    scope_union: bool
    # 2026-07-28 index §10 (SEP-2207): MAY add offline_access when the AS lists it.
    offline_access: bool
    # 2026-07-28 transports (SEP-2575, SEP-2243): no initialize; every POST carries
    # MCP-Protocol-Version, Mcp-Method (and Mcp-Name) and the `_meta` triple.
    modern_transport: bool

    def __str__(self) -> str:
        return self.version


def _revision(version: str, rank: int) -> Revision:
    return Revision(
        version=version,
        protected_resource_metadata=rank >= 1,
        prm_well_known_probe=rank >= 2,
        oidc_discovery=rank >= 2,
        resource_parameter=rank >= 1,
        cimd=rank >= 2,
        dcr_deprecated=rank >= 3,
        application_type=rank >= 3,
        iss_check=rank >= 3,
        credentials_per_issuer=rank >= 3,
        step_up=rank >= 2,
        scope_union=rank >= 3,
        offline_access=rank >= 3,
        modern_transport=rank >= 3,
    )


REVISIONS: dict[str, Revision] = {
    version: _revision(version, rank)
    for rank, version in enumerate(("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"))
}
# Protocol versions an initialize handshake can negotiate (mcp_types.version, SDK 2.3.0).
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSIONS = ("2026-07-28",)

# What a 2026-07-28 request and its answer say on the wire, which the client writes and the MCP
# server reads (basic/index.mdx "Error Codes"; basic/transports streamable-http "Request
# Metadata" and "Value Encoding"): one vocabulary for both sides.
PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES_META = "io.modelcontextprotocol/clientCapabilities"
CLIENT_INFO_META = "io.modelcontextprotocol/clientInfo"
# The three errors only a modern server sends.
HEADER_MISMATCH, MISSING_REQUIRED_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION = -32020, -32021, -32022
# Which param a name-bearing method mirrors into Mcp-Name (Mcp-Name is REQUIRED for these).
NAME_BEARING = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
# A non-empty header value sent plain: printable ASCII, no leading or trailing whitespace;
# anything else travels as `=?base64?…?=`.
PLAIN_HEADER_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")


def revision(value: str | Revision | None = None) -> Revision:
    """The `Revision` for a version string (None: the lab's default)."""
    if isinstance(value, Revision):
        return value
    version = value or DEFAULT_REVISION
    if not isinstance(version, str):  # Lab(revision=2025) said "unknown MCP revision 2025", a ValueError
        raise wrong_type(f"an MCP revision is a string, one of {', '.join(map(repr, REVISIONS))}", version)
    if version not in REVISIONS:
        raise ValueError(f"unknown MCP revision {version!r}; the lab knows {', '.join(REVISIONS)}")
    return REVISIONS[version]


def handshake_versions_up_to(version: str) -> tuple[str, ...]:
    """The initialize-era versions a server of `version` accepts (all, for a modern server)."""
    if version in MODERN_VERSIONS:
        return HANDSHAKE_VERSIONS
    return HANDSHAKE_VERSIONS[: HANDSHAKE_VERSIONS.index(version) + 1]
