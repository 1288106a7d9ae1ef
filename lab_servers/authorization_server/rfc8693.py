"""RFC 8693 token exchange, as on-behalf-of delegation: an MCP server trades the token it received
for one good at a downstream API, naming itself as the actor.

The RFC leaves "who may exchange what for which audience" to the AS (§2.1, §5). The lab's rules,
each refusal naming its rule:
- only a confidential client with an `ExchangeRule` may exchange (client authentication happened
  already; a public client's `none` is refused there), and it must have registered the grant;
- the subject token must be an active access token from this AS whose `aud` is the resource the
  client serves: an MCP server exchanges only tokens that were meant for it;
- the target (`resource` or `audience`) must be one its rule lists, else `invalid_target` (§2.2.2);
- the scope must fit in what the rule allows there, else `invalid_scope`: narrowed, never widened.
The issued token carries `act: {"sub": <the MCP server's client_id>}` (§4.1), nested over any
`act` the subject token had (a chain of at most `MAX_DELEGATION_DEPTH` actors), and no refresh
token; it is based on the subject token's grant, so revoking that grant or that token revokes it
too (RFC 7009 §2.1, `issuance.py`). The actor is the authenticated client, so an `actor_token` is
refused (§2.2.2), never passed over unchecked.
"""

from __future__ import annotations

from typing import Any

from .clients import Client
from .errors import OAuthError
from .issuance import issue_tokens
from .resources import canonical_resource
from .rfc6749 import scope_tokens
from .rfc8414 import TOKEN_EXCHANGE
from .state import AuthorizationServerState

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
GRANT_TYPE = TOKEN_EXCHANGE
# How many actors a delegation chain may name (§4.1 nests `act` without limit): the AS keeps the
# link from each token to those exchanged for it while any token down the chain lives
# (token_records.py, so revoking the first reaches the last, RFC 7009 §2.1), so the links it holds
# are at most this many per live token; two rules serving each other's resources would otherwise
# let a chain, and what the AS remembers of it, grow without end. The lab's chains have 1 or 2.
MAX_DELEGATION_DEPTH = 5


def refuse_actor_token(form: dict[str, str], server: str) -> None:
    """§2.1: actor_token_type is "REQUIRED when the actor_token parameter is present in the
    request but MUST NOT be included otherwise". And an actor_token at all: the actor is the
    authenticated client (the AS names it in `act.sub`); an actor_token would claim a different
    or further actor, which neither the AS nor the IdP verifies, so neither vouches for it
    (§2.2.2: an actor_token "unacceptable based on policy" is invalid_request). Read by the IdP
    too, which dropped both unread and answered 200."""
    if ("actor_token" in form) != ("actor_token_type" in form):
        raise OAuthError(
            "invalid_request",
            "actor_token_type is required with actor_token and must not appear without it (RFC 8693 §2.1)",
        )
    if "actor_token" in form:
        raise OAuthError(
            "invalid_request",
            f"{server} does not accept an actor_token: the actor is the authenticated client "
            "(RFC 8693 §2.2.2: an actor_token unacceptable by policy is invalid_request)",
        )


def exchange_token(server: AuthorizationServerState, client: Client, form: dict[str, str]) -> dict[str, Any]:
    rule = server.exchange_rules.get(client.client_id)
    if rule is None or client.token_endpoint_auth_method == "none":
        raise OAuthError(
            "unauthorized_client",
            f"client {client.client_id!r} may not exchange tokens here (RFC 8693 §5: the AS decides who may)",
        )
    subject_token, subject_type = form.get("subject_token"), form.get("subject_token_type")
    if not subject_token or not subject_type:
        raise OAuthError("invalid_request", "subject_token and subject_token_type are required (RFC 8693 §2.1)")
    if subject_type != ACCESS_TOKEN_TYPE:
        raise OAuthError(
            "invalid_request",
            f"subject_token_type {subject_type!r} is not accepted; send an access token (RFC 8693 §3)",
        )
    requested_type = form.get("requested_token_type", ACCESS_TOKEN_TYPE)
    if requested_type != ACCESS_TOKEN_TYPE:
        # §2.1 leaves the type to the AS only when none is requested; handing back another type
        # than the one asked for would surprise the client, so an unsupported one is refused
        # (RFC 6749 §5.2: invalid_request covers "an unsupported parameter value").
        raise OAuthError(
            "invalid_request",
            f"requested_token_type {requested_type!r} is not issued here: this AS exchanges for access tokens only "
            f"({ACCESS_TOKEN_TYPE}, RFC 8693 §2.1, §3)",
        )
    refuse_actor_token(form, "this AS")
    subject = server.active_access_token(subject_token)
    if subject is None:
        raise OAuthError(
            "invalid_request", "the subject_token is not an active access token from this server (RFC 8693 §2.2.2)"
        )
    if subject.get("aud") != rule.serves:
        raise OAuthError(
            "invalid_request",
            f"the subject_token's audience is {subject.get('aud')!r}, not {rule.serves!r}, the resource client "
            f"{client.client_id!r} serves: it may exchange only tokens that were sent to it (RFC 8693 §2.1, §5)",
        )
    may_act = subject.get("may_act")
    if may_act is not None and (not isinstance(may_act, dict) or may_act.get("sub") != client.client_id):
        # §4.4: may_act names the party the subject token authorizes to act for its subject; the
        # actor here is the authenticated client, so any other name refuses the exchange.
        raise OAuthError(
            "invalid_request",
            f"the subject_token's may_act names {_shown_actor(may_act)}, not the authenticated client "
            f"{client.client_id!r} (RFC 8693 §4.4)",
        )
    if not all(isinstance(subject.get(name), str) and subject[name] for name in ("sub", "jti")):
        # This AS signs every access token with a sub and a jti (RFC 9068 §2.2: REQUIRED); one
        # without them was not minted by a grant: the exchanged token must not carry str() of
        # whatever it has, and must be linked to its subject's jti (issuance.py, RFC 7009 §2.1).
        raise OAuthError(
            "invalid_request", "the subject_token has no sub or no jti string (RFC 9068 §2.2, RFC 8693 §2.2.2)"
        )
    target = _target(form, rule.targets)
    allowed = rule.targets[target]
    # A blank scope names no scope token (RFC 6749 §3.3): read as omitted, i.e. what the rule allows.
    requested = set(scope_tokens(form.get("scope"))) or set(allowed)
    if not requested:
        raise OAuthError(
            "invalid_scope",
            f"client {client.client_id!r} may get no scope at {target} by exchange, and a token's scope is one or "
            "more scope tokens (RFC 6749 §3.3, RFC 8693 §5)",
        )
    if not requested <= allowed:
        raise OAuthError(
            "invalid_scope",
            f"scope {' '.join(sorted(requested - allowed))} is more than {target} may get by exchange ({' '.join(sorted(allowed))}): "
            "an exchange narrows, never widens (RFC 8693 §2.1, §5)",
        )
    if _actors(subject) >= MAX_DELEGATION_DEPTH:
        raise OAuthError(
            "invalid_request",
            f"the subject_token already names {MAX_DELEGATION_DEPTH} actors in its delegation chain, the most this "
            "AS lets a chain name (lab limit; RFC 8693 §4.1 nests act, §2.2.2: a subject_token unacceptable by policy "
            "is invalid_request)",
        )
    act: dict[str, Any] = {"sub": client.client_id}
    if isinstance(subject.get("act"), dict):
        act["act"] = subject["act"]  # §4.1: the chain nests; the outermost actor is the current one
    response = issue_tokens(
        server, client, subject["sub"], target, " ".join(sorted(requested)),
        act=act, exchanged_from=subject["jti"], refresh=False,
    )  # fmt: skip
    return {**response, "issued_token_type": ACCESS_TOKEN_TYPE}  # §2.2.1: REQUIRED


def _actors(claims: dict[str, Any]) -> int:
    """How many actors the `act` chain of a token this AS signed names (§4.1: nested, outermost first)."""
    count, act = 0, claims.get("act")
    while isinstance(act, dict):
        count, act = count + 1, act.get("act")
    return count


def _shown_actor(may_act: object) -> str:
    return repr(may_act.get("sub")) if isinstance(may_act, dict) else f"{may_act!r}, not an object"


def _target(form: dict[str, str], targets: dict[str, frozenset[str]]) -> str:
    resource, audience = form.get("resource"), form.get("audience")
    if not resource and not audience:
        raise OAuthError("invalid_target", "name the downstream API with resource or audience (RFC 8693 §2.1)")
    named = []
    if resource:
        # A resource is a URI (RFC 8707 §2), compared as every other grant compares it (scheme and
        # host case-insensitively, MCP §8.1); an audience is a logical name (§2.1), compared as is.
        try:
            named.append(canonical_resource(resource, list(targets)))
        except OAuthError:
            raise OAuthError(
                "invalid_target", f"this client may not obtain tokens for {resource!r} (RFC 8693 §2.2.2)"
            ) from None
    if audience:
        if audience not in targets:
            raise OAuthError("invalid_target", f"this client may not obtain tokens for {audience!r} (RFC 8693 §2.2.2)")
        named.append(audience)
    if len(set(named)) > 1:
        raise OAuthError("invalid_target", "resource and audience name different targets (RFC 8693 §2.1)")
    return named[0]
