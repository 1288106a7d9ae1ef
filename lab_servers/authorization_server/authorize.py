"""The authorization endpoint (OAuth 2.1 §4.1.1–§4.1.2) and the user's decision at consent.

Until the client and its redirect URI are validated, errors are shown to the user and never
redirected (§4.1.2.1: otherwise the AS would be an open redirector). After that, errors travel
back to the client on the redirect, with `state` and `iss` (RFC 9207 §2: errors included): at
once to a redirect URI the AS trusts, and through a page whose link the user may follow to one
anyone could have registered (RFC 9700 §4.11.2, `ASPolicy.confirm_untrusted_error_redirects`).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..loopback import is_loopback_host
from ..revisions import revision as revision_named
from ..rfc3986 import shown
from ..rfc9110 import JSON_UTF8, prefers
from .client_ids import resolve_client
from .clients import Client
from .consent import render_consent_page, render_error_page
from .errors import MetadataError, OAuthError
from .grants import AuthorizationCode, PendingAuthorization
from .params import single_valued
from .redirect_uris import check_redirect_uri, split_url
from .resources import canonical_resource
from .rfc6749 import form_urlencoded, is_state
from .rfc7636 import check_code_challenge
from .state import AuthorizationServerState

# The authorization endpoint's pages (consent and error): never framed (RFC 9700 §4.16:
# clickjacking), never cached, and never naming their URL, whose query holds the request's
# `state`, in a Referer to another origin (RFC 9700 §4.2.4: "suppress the Referer header by
# applying an appropriate Referrer Policy to the document"). `same-origin`, not `no-referrer`:
# under `no-referrer` a browser sends the consent form's POST with `Origin: null` (Fetch
# standard, "serializing a request origin"), which the served lab's Origin check refuses.
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}
CONSENT_LIFETIME = 600  # seconds a consent transaction stays usable (SBP: short-lived)
CODE_LIFETIME = 60  # OAuth 2.1 §4.1.2: short-lived; 10 minutes at the most
# The answer to the consent form's POST. RFC 9700 §4.12: an AS redirecting a form POST "SHOULD
# use HTTP status code 303", the only one that makes every user agent follow with a GET; after a
# 307 (or a 302 some agents treat alike) the browser would POST the form, and on an AS whose form
# carries the user's credentials those too, to the client.
SEE_OTHER = 303
# What phase 1 of an authorization request reads: the client, where its errors go, and the
# `state` they carry back (OAuth 2.1 §4.1.2.1).
_WHERE_ERRORS_GO = ("client_id", "redirect_uri", "state")
# The media type of the page that tells the user an error (Starlette's HTMLResponse), parameters
# and all, as an Accept range is matched against it (RFC 9110 §12.5.1).
PAGE_TYPE = "text/html; charset=utf-8"


def error_page(error: OAuthError, accept: list[str], *, way_back: str | None = None) -> Response:
    """An error the AS may not redirect, told to the user (OAuth 2.1 §4.1.2.1: it "SHOULD inform
    the resource owner"): a page for a browser, and the error object (RFC 6749 §5.2's shape) for a
    client that asks for JSON over HTML (RFC 9110 §12.1, proactive negotiation). mcp-remote asks
    so before it sends its user to a stored client's authorization URL, and registers again on an
    `invalid_client`: a user whose lab restarted got this page, naming a client the lab forgot.
    `way_back`: the error's redirect, offered rather than sent to a redirect URI the AS does not
    trust (RFC 9700 §4.11.2)."""
    headers = {**PAGE_HEADERS, "Vary": "Accept"}  # RFC 9110 §12.5.5: the answer depends on Accept
    if prefers(accept, JSON_UTF8, over=PAGE_TYPE):
        body = {"error": error.error, "error_description": error.description}
        return JSONResponse(body, status_code=400, headers=headers)
    page = render_error_page(error.error, error.description, way_back=way_back)
    return HTMLResponse(page, status_code=400, headers=headers)


def redirect_to_client(
    server: AuthorizationServerState, redirect_uri: str, params: dict[str, str | None], *, status: int = 302
) -> RedirectResponse:
    query = {k: v for k, v in params.items() if v is not None}
    if server.capabilities.iss_parameter:
        query["iss"] = server.issuer  # RFC 9207 §2
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(
        redirect_uri + separator + urlencode(query), status_code=status, headers={"Cache-Control": "no-store"}
    )


# RFC 3986 §3: scheme "://" authority, then the rest (path, query) as written.
_AUTHORITY = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<authority>[^/?#]*)(?P<rest>.*)", re.DOTALL)


def without_port(uri: str) -> str | None:
    """`uri` with its port taken out of the authority and every other character as written, or
    None when it has none to take. (urlsplit's geturl() also dropped an empty query: "/cb?"
    became "/cb", a string the client never registered.)"""
    parts = _AUTHORITY.fullmatch(uri)
    if parts is None:
        return None
    host, colon, port = parts["authority"].rpartition(":")
    if not colon or "]" in port:
        return uri  # no port: nothing after the last ":" (or the ":" was inside "[…]")
    return f"{parts['scheme']}{host}{parts['rest']}" if port.isascii() and port.isdigit() else None


def is_loopback_port_variant(requested: str, registered: str) -> bool:
    """Whether `requested` is the registered loopback redirect URI `registered` on another port.

    OAuth 2.1 §8.4.2 (RFC 8252 §7.3): "The authorization server MUST allow any port to be
    specified at the time of the request for loopback IP redirect URIs", since a native app takes
    whatever port the OS gives it; RFC 9700 §2.1, which CIMD -02 cites for exact matching, keeps
    this one exception ("except for port numbers in localhost redirection URIs of native apps").
    Claude Code's document registers http://127.0.0.1/callback and http://localhost/callback and
    it listens on an ephemeral port. Every other character still matches exactly: scheme, host as
    written, path and query; and the requested URI passes every check a registered one does."""
    registered_parts = split_url(registered)
    if registered_parts is None or registered_parts.scheme != "http":
        return False
    if not is_loopback_host(registered_parts.hostname or ""):
        return False
    try:
        check_redirect_uri(requested)
    except MetadataError:
        return False
    bare = without_port(requested)
    return bare is not None and bare == without_port(registered)


def choose_redirect_uri(client: Client, requested: str | None, exact: bool) -> str:
    registered = client.redirect_uris
    if requested is None:
        if len(registered) == 1:
            return registered[0]
        raise OAuthError(
            "invalid_request", "redirect_uri is required when the client has several or no registered redirect URIs"
        )
    if requested in registered:
        return requested
    if any(is_loopback_port_variant(requested, uri) for uri in registered):
        return requested  # OAuth 2.1 §8.4.2: any port on a loopback redirect URI
    if not exact and any(requested.startswith(uri.rstrip("/")) for uri in registered):
        return requested  # the naive policy's prefix match: how open redirects are born
    where = "in the client's metadata document" if client.kind == "cimd" else "registered for this client"
    raise OAuthError(
        "invalid_request",
        f"redirect_uri {shown(requested)} is not {where}; redirect URIs must match exactly, but for the port of"
        " an http loopback one (OAuth 2.1 §4.1.1, §8.4.2; MCP §11.5)",
    )


async def authorization_request(
    server: AuthorizationServerState, query: bytes, accept: list[str], source: str
) -> Response:
    # Phase 1: errors here are shown to the user, never redirected. Only what decides where an
    # error could go is read here, once each; any other parameter sent twice (two `resource`
    # values, RFC 8707 §2) is an error of phase 2, sent back to the client with its `state`.
    items = form_urlencoded(query)
    try:
        params = single_valued([(key, value) for key, value in items if key in _WHERE_ERRORS_GO])
        client = await resolve_client(params.get("client_id", ""), server.registry, server.cimd, server.capabilities)
        redirect_uri = choose_redirect_uri(client, params.get("redirect_uri"), server.policy.exact_redirect_uri_match)
        if "state" in params and not is_state(params["state"]):
            # §4.1.2 and §4.1.2.1 send state back as "the exact value received from the client",
            # and Appendix A.5 writes it as 1*VSCHAR: no redirect could carry this one back and
            # stay in the grammar, so the request is refused here, on the page.
            raise OAuthError("invalid_request", "state must be printable ASCII, at least one (RFC 6749 Appendix A.5)")
    except OAuthError as error:
        return error_page(error, accept)
    # Phase 2: the redirect URI is the client's; errors go back to it.
    state = params.get("state")
    try:
        params = single_valued(items)
        if "response_type" not in params:
            # OAuth 2.1 §4.1.2.1: a missing required parameter is `invalid_request`.
            raise OAuthError("invalid_request", "response_type is required and must be 'code' (OAuth 2.1 §4.1.1)")
        if params["response_type"] != "code":
            raise OAuthError("unsupported_response_type", "response_type must be 'code' (OAuth 2.1 §4.1.1)")
        if "authorization_code" not in client.grant_types:
            # RFC 7591 §2: grant_types lists what the client may use; a code it may not redeem is refused here.
            raise OAuthError(
                "unauthorized_client",
                "this client did not register the authorization_code grant (RFC 6749 §4.1.2.1, RFC 7591 §2)",
            )
        challenge = check_code_challenge(params.get("code_challenge"), params.get("code_challenge_method"))
        resource = choose_resource(server, params.get("resource"))
        scope = server.check_scope(params.get("scope"), resource)
    except OAuthError as error:
        back = redirect_to_client(
            server, redirect_uri, {"error": error.error, "error_description": error.description, "state": state}
        )
        if server.policy.confirm_untrusted_error_redirects and client.kind != "preregistered":
            # RFC 9700 §4.11.2: a redirect URI anyone could register, reached with a request that
            # fails on purpose, would make this AS send its users to a phishing page at once.
            return error_page(error, accept, way_back=back.headers["location"])
        return back
    pending = PendingAuthorization(
        txn=server.ids.token("consent-transaction", 16),
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        state=state,
        code_challenge=challenge,
        resource=resource,
        scope=scope,
        expires_at=server.clock.now() + CONSENT_LIFETIME,
    )
    server.pending.put(pending.txn, pending, server.clock.now(), source)
    page = render_consent_page(
        client,
        txn=pending.txn,
        redirect_uri=redirect_uri,
        scope=scope,
        resource=resource,
        action=f"{server.issuer}/authorize/decision",
        user=server.user,
        show_hostnames=server.policy.consent_shows_hostnames,
    )
    return HTMLResponse(page, headers=PAGE_HEADERS)


def choose_resource(server: AuthorizationServerState, resource: str | None) -> str:
    if resource is None:
        # A 2025-03-26 AS predates MCP's RFC 8707 rule (2025-06-18): its clients send no resource.
        single = server.policy.default_to_single_resource and len(server.resources) == 1
        if (
            server.policy.require_resource
            and revision_named(server.capabilities.mcp_revision).resource_parameter
            and not single
        ):
            raise OAuthError(
                "invalid_target",
                "resource is required: MCP clients MUST send the MCP server's canonical URI (MCP §8), and an AS"
                " MAY fail a request that omits it (RFC 8707 §2.1)",
            )
        return server.resources[0]
    return canonical_resource(resource, server.resources)


async def consent_decision(
    server: AuthorizationServerState, items: list[tuple[str, str]], accept: list[str], source: str
) -> Response:
    try:
        form = single_valued(items)
        txn = form.get("txn", "")
        pending = server.pending.get(txn)
        if pending is None:
            raise OAuthError("invalid_request", "unknown or already used consent transaction")
        if pending.expires_at <= server.clock.now():
            del server.pending[txn]
            raise OAuthError("invalid_request", "the consent transaction expired; start the authorization again")
        decision = form.get("decision")
        if decision not in ("approve", "deny"):
            raise OAuthError("invalid_request", "decision must be 'approve' or 'deny'")
    except OAuthError as error:
        return error_page(error, accept)
    # Single use: the transaction id is the form's CSRF token too, so a decision spends it. A
    # refused POST decided nothing and leaves it for the user's next click; no await since the
    # lookup above, so two concurrent decisions cannot both find it.
    del server.pending[txn]
    if decision == "deny":
        return redirect_to_client(
            server, pending.redirect_uri,
            {"error": "access_denied", "error_description": "the user denied the request", "state": pending.state},
            status=SEE_OTHER,
        )  # fmt: skip
    code = AuthorizationCode(
        code=server.ids.token("authorization-code", 24),
        client_id=pending.client_id,
        redirect_uri=pending.redirect_uri,
        code_challenge=pending.code_challenge,
        resource=pending.resource,
        scope=pending.scope,
        subject=server.user,
        expires_at=server.clock.now() + CODE_LIFETIME,
    )
    server.codes.put(code.code, code, server.clock.now(), source)
    return redirect_to_client(
        server, pending.redirect_uri, {"code": code.code, "state": pending.state}, status=SEE_OTHER
    )
