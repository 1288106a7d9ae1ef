"""Step 4: get a client_id, by MCP §5's priority: pre-registered → CIMD → DCR (RFC 7591)."""

from __future__ import annotations

from typing import Any

from ..error_text import told
from ..loopback import is_loopback_host
from ..rfc3986 import readable_hostname
from ..rfc9110 import media_type
from .base import ClientBase, StepRun
from .client_id_url import client_id_url_advice, client_id_url_problem
from .records import StepRecord
from .server_data import member, receive, server_json, server_url
from .state import Credentials


def token_endpoint_auth_method(as_metadata: dict[str, Any], *, public: bool) -> str:
    """The method to use at the token endpoint, among those the AS supports. RFC 8414 §2: an
    absent list means client_secret_basic only. A public client prefers none when offered."""
    supported = as_metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    preferences = (
        ["none", "client_secret_basic", "client_secret_post"]
        if public
        else ["client_secret_basic", "client_secret_post"]
    )
    return next((m for m in preferences if m in supported), supported[0])


def document_auth_method_problem(as_metadata: dict[str, Any], document: dict[str, Any]) -> str | None:
    """Why this AS could not authenticate the client its document describes, or None.

    MCP §5 says only to use CIMD "if the authorization server indicates support"
    (client_id_metadata_document_supported), and is silent on how the client authenticates then.
    But the document fixes that (CIMD §4.1: `none`, or `private_key_jwt` with published keys; never
    a shared secret), and the AS lists what its token endpoint takes: a method it does not list is
    refused at step 5 when the AS fetches the document, with DCR, next in MCP's order, still open
    (the choice clients such as Claude make: the flag and `none` in the list)."""
    # CIMD §4.1: a document with no shared secret that names no method is a public client.
    method = document.get("token_endpoint_auth_method") or "none"
    listed = as_metadata.get("token_endpoint_auth_methods_supported")
    if not listed:
        # RFC 8414 §2: omitted, the list means client_secret_basic alone, a shared secret that no
        # document may use (CIMD §4.1): such an AS takes no document's method, 'none' least of all.
        return (
            f"the AS lists no token_endpoint_auth_methods_supported, which means client_secret_basic alone (RFC 8414 "
            f"§2), a shared secret no client document may use (CIMD §4.1): the document's {method!r} would be refused"
        )
    if method not in listed:
        return (
            f"the client's document authenticates with {method!r}, which the AS's token_endpoint_auth_methods_supported "
            f"({told(', '.join(map(str, listed)))}) does not list: the AS would refuse the document (RFC 8414 §2)"
        )
    return None


def application_type(redirect_uris: list[str]) -> str:
    """2026-07-28 client-registration §3.1: native for loopback/custom-scheme redirects, else web."""
    web = all(
        uri.startswith("https://") and not is_loopback_host(readable_hostname(uri) or "") for uri in redirect_uris
    )
    return "web" if web and redirect_uris else "native"


class RegistrationStep(ClientBase):
    # Step 4 ----------------------------------------------------------------------------------

    @property
    def _store_key(self) -> str:
        # 2026-07-28 client-registration §4: keyed by the AS issuer. Before, clients keyed what
        # they registered by the server they were connecting to, and reused it when that server
        # moved to another AS: the leak SEP-2352 closed.
        return (self.state.issuer or "") if self.revision.credentials_per_issuer else self.mcp_url

    async def get_client_id(self) -> StepRecord:
        with self._step(4) as step:
            metadata = self._require(self.state.as_metadata, step, "AS metadata")
            method = self._choose_registration(metadata, step)
            if method == "preregistered":
                credentials = self.preregistered[self.state.issuer or ""]
                if credentials.client_secret and credentials.token_endpoint_auth_method == "none":
                    credentials.token_endpoint_auth_method = token_endpoint_auth_method(metadata, public=False)
                self.state.credentials = credentials
                step.explanation = (
                    "This client was registered with this AS out of band; it uses those credentials (MCP §5.2)."
                )
            elif method == "stored":
                self.state.credentials = self.credential_store[self._store_key]
                step.explanation = (
                    f"The client already holds credentials stored under {told(self._store_key)}; it uses them again."
                )
            elif method == "cimd":
                url = self.client_metadata_url or ""
                # CIMD §3 and §4.1, MCP §5.1.1: checked before the URL is presented as client_id.
                problem = client_id_url_problem(url, self.client_metadata)
                if problem:
                    raise step.fail(f"this client's document URL {url!r} cannot be its client_id: {problem}")
                step.notes.extend(client_id_url_advice(url))
                self.state.credentials = Credentials(url)
                step.explanation = (
                    "The AS supports Client ID Metadata Documents, so the client_id is simply the URL of the "
                    "client's own JSON document. No request is made now: the AS will fetch the document when the "
                    "authorization request arrives."
                )
            elif method == "dcr":
                self.state.credentials = await self._register(metadata, step)
                self.credential_store[self._store_key] = self.state.credentials
                step.explanation = (
                    "The client registers itself with POST /register (RFC 7591) and the AS mints an opaque "
                    "client_id. The AS keeps a record; the client must store the id for this AS."
                )
            else:
                self.state.credentials = await self._ask_user(metadata, step)
                self.credential_store[self._store_key] = self.state.credentials
                step.explanation = (
                    "No automatic way was left, so the client asked the user for client details (MCP §5, option 4)."
                )
            self.state.registration_method = method
            step.learned.update(method=method, client_id=self.state.credentials.client_id,
                                reasons=dict(self.state.registration_reasons or {}))  # fmt: skip
        return self.records[-1]

    def _options(self, metadata: dict[str, Any]) -> dict[str, tuple[bool, str]]:  # keyed by option name
        """Each registration option: whether it is available here, and why (or why not)."""
        # The issuer, a registration endpoint and a client_id a server gave are its words: quoted
        # within bounds (error_text.told), whole at the lengths the lab's own have.
        issuer, rev = self.state.issuer or "", self.revision
        where, key = told(issuer), told(self._store_key)
        cimd_flag = metadata.get("client_id_metadata_document_supported") is True
        registration_endpoint = metadata.get("registration_endpoint")
        stored = self.credential_store.get(self._store_key)
        expired = stored is not None and stored.secret_expired(self.now())
        refused = document_auth_method_problem(metadata, self.client_metadata) if cimd_flag else None
        return {
            "preregistered": (issuer in self.preregistered,
                              f"pre-registered credentials for {where}" if issuer in self.preregistered
                              else f"no pre-registered credentials for {where}"),
            "stored": (stored is not None and not expired,
                       f"the client secret stored under {key} (client_id {told(stored.client_id)}) expired at "
                       f"{stored.client_secret_expires_at}: the client registers again (RFC 7591 §3.2.1)"
                       if stored and expired
                       else f"credentials stored under {key} (client_id {told(stored.client_id)})" if stored
                       else f"nothing stored under {key}"),
            "cimd": (rev.cimd and cimd_flag and bool(self.client_metadata_url) and refused is None,
                     f"MCP {rev.version} has no CIMD (it arrived in 2025-11-25)" if not rev.cimd
                     else "the AS does not advertise client_id_metadata_document_supported: true" if not cimd_flag
                     else "this client has no metadata document URL" if not self.client_metadata_url
                     else f"the AS advertises CIMD, but {refused}" if refused
                     else f"the AS advertises CIMD and the client's document is at {self.client_metadata_url}"),
            "dcr": (isinstance(registration_endpoint, str),
                    f"the AS offers registration_endpoint {told(registration_endpoint)}" if isinstance(registration_endpoint, str)
                    else "the AS advertises no registration_endpoint"),
            "ask-user": (self.ask_user is not None,
                         "a callback can ask the user for client details" if self.ask_user else "no callback to ask the user with"),
        }  # fmt: skip

    def _choose_registration(self, metadata: dict[str, Any], step: StepRun) -> str:
        options = self._options(metadata)
        order: list[str] = [
            "preregistered",
            "stored",
            "cimd",
            "dcr",
            "ask-user",
        ]  # MCP §5's priority (stored: already registered)
        if self.method != "auto":
            if not options[self.method][0]:
                raise step.fail(
                    f"registration method {self.method!r} is not available with this AS: {options[self.method][1]}"
                )
            chosen: str = self.method
        else:
            chosen = next((m for m in order if options[m][0]), "")
        reasons: dict[str, str] = {}
        for option in order:
            available, why = options[option]
            if option == chosen:
                reasons[option] = "chosen: " + why
            else:
                reasons[option] = ("skipped: " if not available else "not needed: ") + why
        if chosen == "dcr" and self.revision.dcr_deprecated:
            reasons["dcr"] += " (DCR is deprecated in 2026-07-28, kept as the fallback)"
        self.state.registration_reasons = reasons
        step.notes.extend(f"{option}: {why}" for option, why in reasons.items())
        if not chosen:
            raise step.fail("no way to get a client_id: " + "; ".join(why for _, why in options.values()))
        return chosen

    async def _ask_user(self, metadata: dict[str, Any], step: StepRun) -> Credentials:
        assert self.ask_user is not None
        credentials = await self.ask_user(metadata)
        if credentials is None:
            raise step.fail("the user gave no client details (MCP §5, option 4)")
        return credentials

    async def _register(self, metadata: dict[str, Any], step: StepRun) -> Credentials:
        body = {k: v for k, v in self.client_metadata.items() if k != "client_id"}
        body["token_endpoint_auth_method"] = token_endpoint_auth_method(metadata, public=True)
        if self.revision.application_type:
            body.setdefault("application_type", application_type(body.get("redirect_uris") or []))
        headers = {}
        if self.initial_access_token and self.state.issuer == self.initial_access_token_issuer:
            headers["Authorization"] = f"Bearer {self.initial_access_token}"
        elif self.initial_access_token:
            # RFC 6750 §5.3: a bearer token MUST NOT reach an unintended party; the discovered AS
            # (a hostile MCP server's choice, or the one a resource moved to) is not its issuer.
            step.notes.append(
                f"the initial access token is {self.initial_access_token_issuer}'s, not sent to {told(self.state.issuer)} "
                "(RFC 7591 §3; RFC 6750 §5.3)"
            )
        endpoint = server_url(metadata["registration_endpoint"], "AS metadata registration_endpoint", https=True)
        response = await receive(self.http, "POST", endpoint, json=body, headers=headers)
        if response.status_code != 201:
            error = {}
            # RFC 9110 §8.3.1: a media type, case-insensitive, not a prefix (Application/JSON is JSON).
            if media_type(response.headers.get("content-type")) == "application/json":
                what = f"the registration endpoint's {response.status_code} answer"
                error = server_json(response.content, what, rule="RFC 7591 §3.2.2: a JSON object")
            # A refusal for missing credentials carries only a challenge (RFC 6750 §3.1): name it.
            reason = (
                f"{told(error.get('error'))}: {told(error.get('error_description'))}"
                if error
                else f"WWW-Authenticate: {told(response.headers.get('www-authenticate'))}"
            )
            raise step.fail(f"registration refused ({response.status_code} {reason})")
        registered = server_json(response.content, "the registration response", rule="RFC 7591 §3.2.1: a JSON object")
        what, rule = "the registration response's", "RFC 7591 §3.2.1"
        client_id = member(registered, "client_id", str, what, rule=rule)
        if not client_id:
            raise step.fail("the registration response has no client_id (RFC 7591 §3.2.1: REQUIRED)")
        step.learned.update(registration=registered)
        secret = member(registered, "client_secret", str, what, rule=rule)
        # RFC 7591 §3.2.1: REQUIRED with a secret; 0 means it never expires (not "already expired").
        expires_at = member(registered, "client_secret_expires_at", int, what, rule=rule)
        if secret and expires_at is None:
            step.notes.append("the AS issued a client_secret without client_secret_expires_at (RFC 7591 §3.2.1: "
                              "REQUIRED with a secret); the client takes it as never expiring")  # fmt: skip
        elif secret and expires_at:
            step.notes.append(f"the client secret expires at {told(expires_at)}; from then on the client registers again "
                              "(RFC 7591 §3.2.1)")  # fmt: skip
        method = member(registered, "token_endpoint_auth_method", str, what, rule=rule)
        if not method:
            # RFC 7591 §2: omitted means client_secret_basic, which needs the secret an AS issues to
            # a confidential client (§3.2.1). Given none, the client holds nothing to authenticate
            # with but its client_id: a public client (as it always acted here).
            method = "client_secret_basic" if secret else "none"
            step.notes.append(f"the registration response has no token_endpoint_auth_method (RFC 7591 §3.2.1: it "
                              f"returns all registered metadata); the client takes it as {method!r}")  # fmt: skip
        return Credentials(client_id, secret, method, client_secret_expires_at=expires_at)
