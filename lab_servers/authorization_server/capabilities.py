"""What an authorization server offers, as configuration: advertised in its metadata *and*
enforced at its endpoints, so that a lab can run the servers clients really meet.

- `cimd`: Client ID Metadata Documents (`client_id_metadata_document_supported`, CIMD §6). Off,
  a URL `client_id` is an unknown client.
- `dcr`: RFC 7591 registration, `"open"`, `"initial_access_token"` (RFC 7591 §3: the AS MAY
  require a bearer token at `/register`), `"closed"` (the endpoint refuses), or `"removed"`
  (no endpoint at all: 404).
- `advertise_registration_endpoint`: None advertises it exactly when registration works; True
  with DCR closed or removed is the misconfiguration clients trip over (marselsel/Lexware-MCP-Server#36).
- `token_endpoint_auth_methods`: what `token_endpoint_auth_methods_supported` lists, and what a
  registration or a client metadata document may name. Claude, for one, uses CIMD only when `none` is listed.
- `iss_parameter`: RFC 9207 `iss` on authorization responses (and its metadata flag).
- `revision`: the MCP revision the AS follows; `for_revision` gives its usual defaults. Left
  unset (None), it is the revision of the MCP server beside it: a `Lab` fills in its own, so
  `Lab(revision="2025-03-26", capabilities=ASCapabilities(cimd=False))` has a 2025-03-26 AS. One
  set is kept, even against the lab's: an AS ahead of its MCP server is a real deployment (a
  2026-07-28 AS refuses a 2025-03-26 client's request without `resource`, MCP §8).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from ..arguments import one_of, wrong_type
from ..revisions import DEFAULT_REVISION
from ..revisions import revision as revision_named
from ..rfc6750 import is_b64token

DcrMode = Literal["open", "initial_access_token", "closed", "removed"]
ALL_AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post", "private_key_jwt")


@dataclass(frozen=True)
class ASCapabilities:
    revision: str | None = None
    cimd: bool = True
    dcr: DcrMode = "open"
    initial_access_token: str | None = None
    advertise_registration_endpoint: bool | None = None
    token_endpoint_auth_methods: tuple[str, ...] = ALL_AUTH_METHODS
    iss_parameter: bool = True

    def __post_init__(self) -> None:
        # Every field is advertised and enforced, so a value the AS cannot act on is refused here,
        # where the learner wrote it: "Open" or a mistyped revision was quietly an AS with no
        # registration or one claiming a revision the lab does not know.
        if self.revision is not None:
            revision_named(self.revision)  # a ValueError naming the revisions the lab knows
        one_of("dcr mode", self.dcr, get_args(DcrMode))
        for name in ("cimd", "iss_parameter"):
            if not isinstance(getattr(self, name), bool):
                raise wrong_type(f"ASCapabilities.{name} is True or False", getattr(self, name))
        if not isinstance(self.advertise_registration_endpoint, bool | None):
            raise wrong_type(
                "ASCapabilities.advertise_registration_endpoint is None, True or False",
                self.advertise_registration_endpoint,
            )
        methods = self.token_endpoint_auth_methods
        if not isinstance(methods, list | tuple):  # a lone string too: it would be read letter by letter
            raise wrong_type("ASCapabilities.token_endpoint_auth_methods is a tuple, such as ('none',)", methods)
        for method in methods:
            one_of("token endpoint auth method", method, ALL_AUTH_METHODS)
        object.__setattr__(self, "token_endpoint_auth_methods", tuple(methods))
        token = self.initial_access_token
        if token is not None and not isinstance(token, str):
            raise wrong_type("ASCapabilities.initial_access_token is a string, such as 'iat-123'", token)
        if self.dcr == "initial_access_token" and token is None:
            # Every registration would be refused as a wrong token: an AS no client can register with.
            raise ValueError(
                "dcr='initial_access_token' needs initial_access_token='…', the token a client must present "
                "(RFC 7591 §3); without one no client could ever register"
            )
        # RFC 7591 §3: the initial access token is an OAuth 2.0 bearer token, which travels as
        # `Authorization: Bearer` and a b64token (RFC 6750 §2.1). /register reads it so, as the
        # resource servers do: one outside b64token (`iat secret`, `iat:1`) could never be sent,
        # and every registration, the lab client's own, was refused as a malformed request.
        if token is not None and not is_b64token(token):
            raise ValueError(
                f"initial_access_token {token!r} is no b64token, so no request can carry it as a "
                "Bearer token (RFC 7591 §3, RFC 6750 §2.1: letters, digits, -._~+/ then any '=')"
            )

    def but(self, **changes: Any) -> ASCapabilities:
        """A copy with some capabilities changed."""
        return replace(self, **changes)

    @classmethod
    def for_revision(cls, version: str) -> ASCapabilities:
        """An AS as the revision's spec describes it: CIMD from 2025-11-25 (SEP-991); RFC 9207
        `iss` from 2026-07-28 (SEP-2468; the lab's 2025-11-25 AS already sent it)."""
        rev = revision_named(version)
        return cls(revision=rev.version, cimd=rev.cimd, iss_parameter=rev.cimd)

    @classmethod
    def beside(cls, capabilities: ASCapabilities | None, version: str) -> ASCapabilities:
        """The capabilities of an AS a `Lab` builds beside its MCP server of `version`:
        `capabilities` (None: what that revision describes, `for_revision`), `following` it."""
        return (capabilities or cls.for_revision(version)).following(version)

    def following(self, version: str) -> ASCapabilities:
        """These capabilities for an AS beside an MCP server of `version`: an unset revision
        becomes it; a set one is kept (see the module's docstring)."""
        return self if self.revision is not None else replace(self, revision=version)

    @property
    def mcp_revision(self) -> str:
        """The MCP revision the AS follows: its own, else (an AS built alone) the lab's default."""
        return self.revision if self.revision is not None else DEFAULT_REVISION

    @property
    def registration_works(self) -> bool:
        return self.dcr in ("open", "initial_access_token")

    @property
    def advertises_registration(self) -> bool:
        if self.advertise_registration_endpoint is None:
            return self.registration_works
        return self.advertise_registration_endpoint

    @property
    def cimd_usable(self) -> bool:
        """CIMD on, and a method a document may name offered. CIMD -02 §4.1 forbids shared secrets
        in a document (no client_secret, no client_secret_basic or client_secret_post), so a CIMD
        client authenticates with `none` or `private_key_jwt`; an AS offering neither can take no
        CIMD client, and advertising CIMD would send every client to a dead end (MCP §5: a client
        prefers CIMD whenever the metadata says it is supported). Advertised and enforced alike:
        without it a URL client_id is refused before any fetch (client_ids.resolve_client)."""
        return self.cimd and any(m in ("none", "private_key_jwt") for m in self.token_endpoint_auth_methods)

    def apply_to_metadata(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """The RFC 8414 document with these capabilities advertised."""
        metadata = dict(metadata)
        if not self.advertises_registration:
            metadata.pop("registration_endpoint", None)
        methods = list(self.token_endpoint_auth_methods)
        metadata["token_endpoint_auth_methods_supported"] = methods
        # RFC 7009 §2.1, RFC 7662 §2.1: revocation and introspection authenticate the client as the
        # token endpoint does, and client_authentication.py honours only these methods there too;
        # so their RFC 8414 lists narrow with it (introspection never takes `none`: rfc7662.py).
        metadata["revocation_endpoint_auth_methods_supported"] = list(methods)
        metadata["introspection_endpoint_auth_methods_supported"] = [m for m in methods if m != "none"]
        if self.cimd_usable:
            metadata["client_id_metadata_document_supported"] = True
        else:
            metadata.pop("client_id_metadata_document_supported", None)
        if self.iss_parameter:
            metadata["authorization_response_iss_parameter_supported"] = True
        else:
            metadata.pop("authorization_response_iss_parameter_supported", None)
        return metadata


DEFAULT_CAPABILITIES = ASCapabilities()
