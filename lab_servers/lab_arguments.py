"""What `Lab(...)`, `lab.client(...)`, `lab.connect(...)` and the host-adding methods take, checked
where the notebook cell passes it. Each of these was trusted: `Lab(clock=5)` ended in an
AttributeError from the AS's key generation, `Lab(mcp_url="not a url")` in an IndexError inside
the resource server, `client(caller=5)` in a trace whose sender was the number 5, and
`client(preregistered=5)` in a step 4 that blamed the server ("unexpected response").

    check_lab(seed=seed, capabilities=capabilities, clock=clock, ids=ids, mcp_url=mcp_url, ...)
    check_options("lab.connect", options, option_names(lab.client))
"""

from __future__ import annotations

import difflib
import functools
import inspect
import ipaddress
import json
import re
from collections.abc import Callable, Collection
from typing import Any, TypeGuard
from urllib.parse import unquote, urlsplit

from .arguments import flag, is_string_list, one_of, wrong_type
from .authorization_server import ASCapabilities, ASPolicy
from .authorization_server.capabilities import ALL_AUTH_METHODS
from .client import Credentials
from .client.base import check_decision
from .determinism import LabClock, SeededIds
from .lab_hosts import ISSUER
from .revisions import Revision
from .rfc3986 import is_uri_text
from .rfc6750 import is_b64token
from .wellknown import normalized_origin, origin, served_path

# RFC 1123 §2.1 (RFC 952's host names, a digit allowed first): letters, digits and hyphens, up to
# 63 in a label, no hyphen at either end of one.
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")


def http_url(what: str, value: object, example: str) -> str:
    """An http or https URL with a host and no fragment (RFC 9728 §1.2 and RFC 8414 §2: a
    resource or an issuer has none), written in URI characters (RFC 3986 §2). http too: `serve`
    gives the lab its loopback URLs."""
    if not isinstance(value, str):
        raise wrong_type(f"{what} takes a URL, a string such as {example!r}", value)
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # an unclosed "[" in the host
        host = None
    if host is None or parts.scheme not in ("https", "http") or "#" in value or not is_uri_text(value):
        raise ValueError(f"{what} takes an http(s) URL with a host and no fragment, such as {example!r}; got {value!r}")
    if any(unquote(segment) in (".", "..") for segment in parts.path.split("/")):
        # A client removes them before it sends the request (RFC 3986 §5.2.4, §6.2.2.3; %2e is '.',
        # §2.3): a server at /./mcp was asked for /mcp, and answered every client 404.
        raise ValueError(
            f"{what} takes a URL without '.' or '..' path segments, which clients remove before they send it "
            f"(RFC 3986 §6.2.2.3); got {value!r}"
        )
    return value


def as_policy(policy: object) -> ASPolicy:
    if not isinstance(policy, ASPolicy):
        raise wrong_type(
            "the AS policy is an ASPolicy, such as HARDENED or NAIVE (from lab_servers import NAIVE)", policy
        )
    return policy


def check_lab(
    *, seed: object, capabilities: object, clock: object, ids: object, mcp_url: object, issuer: object,
    accept_legacy: object,
) -> None:  # fmt: skip
    """The arguments of `Lab(...)`: those after `capabilities` reached the servers unchecked."""
    if not isinstance(seed, int | str):
        raise wrong_type("Lab(seed=…) takes an int or a str; the same seed gives the same ids and tokens", seed)
    check_capabilities("Lab", capabilities)
    if clock is not None and not isinstance(clock, LabClock):
        raise wrong_type(
            "Lab(clock=…) takes a LabClock, such as LabClock(1767225600) (seconds since 1970); "
            "to move a lab's clock, call lab.clock.advance(600)",
            clock,
        )
    if ids is not None and not isinstance(ids, SeededIds):
        raise wrong_type("Lab(ids=…) takes a SeededIds, such as SeededIds(7); for a seed, pass Lab(seed=7)", ids)
    http_url("Lab(mcp_url=…)", mcp_url, "https://mcp.example.com/mcp")
    http_url("Lab(issuer=…)", issuer, "https://auth.example.com")
    canonical = origin(str(mcp_url)).lower() + str(mcp_url)[len(origin(str(mcp_url))) :]
    if mcp_url != canonical:
        # The AS reads a resource's scheme and host in lower case (MCP §8.1, resources.py) and
        # issues tokens for that audience, which a server whose URL was written in capitals refused.
        raise ValueError(
            f"Lab(mcp_url=…) takes the MCP server's canonical URI, {canonical!r} (MCP §8.1); got {mcp_url!r}"
        )
    if isinstance(issuer, str) and "?" in issuer:
        raise ValueError(f"Lab(issuer=…) takes an issuer with no query (RFC 8414 §2); got {issuer!r}")
    if isinstance(issuer, str) and issuer.endswith("/"):
        # The AS's endpoints are the issuer and a path (f"{issuer}/token"): one slash too many.
        raise ValueError(f"Lab(issuer=…) takes an issuer without a trailing '/', such as {issuer.rstrip('/')!r}")
    flag("Lab(accept_legacy=…)", accept_legacy)


def check_placement(revision: Revision, mcp_url: str, issuer: str, *, own: tuple[str, str]) -> bool:
    """Whether the lab's servers join its network (`own`: the MCP and AS origins of the lab's own
    hosts; URLs at any path there), and where a lab of `revision` can put its AS. Origins compare
    as RFC 3986 §6.2.2.1 and §6.2.3 have them: https://AUTH.example.com:443/tenant1 is on
    auth.example.com (compared as written, such a lab put no server on the network).

    MCP 2025-03-26 has no PRM: a client takes the MCP URL's origin as the AS's (§2.3.2), and only
    the in-process lab builds that host (`CoLocated`, the issuer its origin). Given other URLs,
    the lab built servers no 2025-03-26 client could find the AS of, its issuer elsewhere;
    `serve --revision 2025-03-26` is refused alike."""
    in_process = (normalized_origin(mcp_url), normalized_origin(issuer)) == own
    if revision.protected_resource_metadata:
        return in_process
    where = f"that revision's AS lives at the MCP server's origin (MCP {revision.version} §2.3.2)"
    if not in_process:
        raise ValueError(
            f"Lab(revision={revision.version!r}) is built on the lab's own hosts only: {where}, one host that only the"
            f" in-process lab builds; leave mcp_url and issuer out (got {mcp_url!r} and {issuer!r})"
        )
    if (issuer if urlsplit(issuer).path else normalized_origin(issuer)) not in (own[1], normalized_origin(mcp_url)):
        raise ValueError(
            f"Lab(revision={revision.version!r}) takes no issuer of its own: {where}, {origin(mcp_url)}; "
            f"leave issuer out (got {issuer!r})"
        )
    return in_process


def check_co_located(revision: Revision, mcp_url: str, as_serves: Callable[[str], bool]) -> None:
    """A 2025-03-26 MCP URL at none of the paths its co-located AS serves: the shared host sends
    the MCP path to the MCP server (`CoLocated`), so at https://mcp.example.com/token the AS's
    token endpoint, which its own metadata advertises (and §2.3.3's defaults name), was the MCP
    server's, and no handshake could finish."""
    path = served_path(mcp_url)
    if as_serves(path):
        raise ValueError(
            f"Lab(revision={revision.version!r}, mcp_url={mcp_url!r}): {path} is a path of the authorization "
            f"server at the MCP server's origin (MCP {revision.version} §2.3.2, §2.3.3; RFC 8414 §2), which one "
            "host cannot serve as the MCP endpoint too; choose another path, such as '/mcp'"
        )


def check_capabilities(what: str, capabilities: object) -> None:
    """`capabilities=` of `Lab(...)` and of `lab.add_authorization_server(...)`: None (the
    revision's own), or an ASCapabilities."""
    if capabilities is not None and not isinstance(capabilities, ASCapabilities):
        raise wrong_type(
            f"{what}(capabilities=…) takes an ASCapabilities, such as ASCapabilities(cimd=False)", capabilities
        )


def _maps_to(value: object, kind: type) -> TypeGuard[dict[Any, Any]]:
    """A dict whose every value is a `kind`: what an AS's pre-registered metadata and a client's
    credentials per issuer each are."""
    return isinstance(value, dict) and all(isinstance(item, kind) for item in value.values())


def check_preregistered_metadata(what: str, preregistered: object) -> None:
    """What an administrator added to an AS: each client_id (a string) mapped to its metadata,
    whose fields the AS reads are of RFC 7591 §2's types. Unchecked, a secret of 5 or
    redirect_uris of 5 was taken, and the AS answered the client's first request with a 500."""
    example = "{'my-agent': {'redirect_uris': ['https://app.example/callback'], 'client_secret': 's3cret'}}"
    if preregistered is not None and not (
        _maps_to(preregistered, dict) and all(isinstance(k, str) for k in preregistered)
    ):
        raise wrong_type(
            f"{what}(preregistered=…) maps each client_id to its metadata, a dict such as {example}; each client_id is a string",
            preregistered,
        )
    for client_id, metadata in (preregistered or {}).items():
        for field, (is_right, kind) in _PREREGISTERED_FIELDS.items():
            if field in metadata and not is_right(metadata[field]):
                raise wrong_type(
                    f"{what}(preregistered=…): client {client_id!r}: {field} is {kind} (RFC 7591 §2)", metadata[field]
                )


_PREREGISTERED_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "client_secret": (lambda v: isinstance(v, str), "a string"),
    "token_endpoint_auth_method": (lambda v: isinstance(v, str), "a string, such as 'client_secret_basic'"),
    "redirect_uris": (is_string_list, "a list of URL strings"),
    "grant_types": (is_string_list, "a list of strings, such as ['authorization_code']"),
    "response_types": (is_string_list, "a list of strings, such as ['code']"),
    "client_name": (lambda v: isinstance(v, str), "a string"),
}


def check_client(
    *,
    client_metadata_url: object,
    decision: object,
    preregistered: object,
    ask_user: object,
    credential_store: object,
    initial_access_token: object,
) -> None:
    """The options of `lab.client(...)` (and so of `lab.connect(...)`) that reached a step unchecked."""
    if client_metadata_url is not None and not isinstance(client_metadata_url, str):
        raise wrong_type(
            "client_metadata_url takes the CIMD document's URL, a string such as 'https://app.example/agent.json', "
            "or None for a client without one",
            client_metadata_url,
        )
    check_decision("decision", decision)
    for name, value in (("preregistered", preregistered), ("credential_store", credential_store)):
        if value is not None and not _maps_to(value, Credentials):
            raise wrong_type(
                f"{name} maps each AS issuer to the client's credentials there, a dict such as "
                "{'https://auth.example.com': Credentials('my-agent')}",
                value,
            )
        for credentials in (value or {}).values():
            _check_credentials(name, credentials)
        for key in value or {}:
            if not (isinstance(key, str) and key.startswith(("https://", "http://"))):
                # Keyed by a hostname, the credentials were never found: step 4 said only "no
                # pre-registered credentials for https://auth.example.com".
                hint = f" (did you mean 'https://{key}'?)" if isinstance(key, str) and "/" not in key else ""
                raise ValueError(f"{name} is keyed by the AS's issuer, a URL such as {ISSUER!r}; got {key!r}{hint}")
    if ask_user is not None and not callable(ask_user):
        raise wrong_type(
            "ask_user takes an async function shown the AS metadata, returning Credentials or None", ask_user
        )
    if initial_access_token is not None and not isinstance(initial_access_token, str):
        raise wrong_type(
            "initial_access_token takes the token the AS's administrator gave, a string", initial_access_token
        )
    if initial_access_token is not None and not is_b64token(initial_access_token):
        # It travels as `Authorization: Bearer <token>` (RFC 7591 §3): an "ü" failed to encode as
        # a step 4 "unexpected response", a CR LF went into the header the AS then refused.
        raise ValueError(
            "initial_access_token is sent as Authorization: Bearer <token>, so it is a b64token: letters, digits, "
            f"-._~+/ and = at the end (RFC 6750 §2.1); got {initial_access_token!r}"
        )


def _check_credentials(name: str, credentials: Credentials) -> None:
    """What the lab client sends of them: a client_id and a secret as strings (a number was sent
    as "5", and the AS's "unknown client_id '5'" hid the slip), and a method the token endpoint
    knows (RFC 7591 §2; one it did not was sent as a public client's request)."""
    if not isinstance(credentials.client_id, str) or not credentials.client_id:
        raise wrong_type(
            f"{name}: Credentials' client_id is the AS's id for the client, such as 'my-agent'", credentials.client_id
        )
    if credentials.client_secret is not None and not isinstance(credentials.client_secret, str):
        raise wrong_type(
            f"{name}: Credentials' client_secret is a string, or None for a public client", credentials.client_secret
        )
    one_of("token endpoint auth method", credentials.token_endpoint_auth_method, ALL_AUTH_METHODS)


def check_client_metadata(metadata: object) -> None:
    """The client's own metadata (`lab.client(client_metadata=…)`): its DCR request or CIMD
    document, sent as it is so that the AS's refusals can be watched, except what the lab client
    itself must read: JSON it can send, `redirect_uris` (the first is where its browser is sent
    back), `grant_types` and `client_name` (its MCP clientInfo name). Each of those failed as a
    step's "unexpected response", as if a server had sent it, or as a bare AttributeError."""
    if not isinstance(metadata, dict):
        raise wrong_type(
            "client_metadata takes the metadata itself, a dict; for a CIMD document's URL, pass client_metadata_url=…",
            metadata,
        )
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:  # bytes, a set, a date, NaN, a cycle…
        raise TypeError(
            f"client_metadata is sent as JSON (RFC 7591 §3.1; CIMD §4), and this cannot be ({error}): use dicts, "
            "lists, strings, numbers (not NaN or Infinity), True, False and None"
        ) from None
    redirect_uris = metadata.get("redirect_uris")
    if not is_string_list(redirect_uris) or not redirect_uris:
        raise wrong_type(
            "client_metadata['redirect_uris'] is a non-empty list of URL strings, such as ['https://app.example/callback']",
            redirect_uris,
        )
    if "grant_types" in metadata and not is_string_list(metadata["grant_types"]):
        raise wrong_type(
            "client_metadata['grant_types'] is a list of strings, such as ['authorization_code', 'refresh_token']",
            metadata["grant_types"],
        )
    if "client_name" in metadata and not isinstance(metadata["client_name"], str):
        raise wrong_type("client_metadata['client_name'] is a string, such as 'Lab Agent'", metadata["client_name"])


def check_options(what: str, options: Collection[str], accepted: Collection[str]) -> None:
    """Refuse an option `what` does not take, naming the likely one: `lab.connect("cimd",
    scopes=…)` said only that `Lab.client()` got an unexpected keyword argument."""
    for option in options:
        if option not in accepted:
            guess = next(iter(difflib.get_close_matches(option, list(accepted), 1)), None)
            hint = f" (did you mean {guess!r}?)" if guess else ""
            if option in ("scope", "scopes"):
                hint = (
                    " (the client asks for the scope the server names; to choose it, run the steps and call "
                    "client.authorize(scope='notes:read'))"
                )
            raise TypeError(f"{what} has no option {option!r}{hint}; its options: {', '.join(accepted)}")


def check_host(what: str, hostname: object, address: object) -> str:
    """`hostname`, a host name (RFC 1123 §2.1), if `address` is an IP address: a new host on the
    lab network. An address that is none was refused by the DNS, its message naming no argument."""
    if not isinstance(hostname, str):
        raise wrong_type(f"{what} takes a hostname first, a string such as 'legacy.example'", hostname)
    if not isinstance(address, str):
        raise wrong_type(f"{what} takes an IP address second, a string such as '93.184.215.50'", address)
    if "/" in hostname or ":" in hostname:
        raise ValueError(f"{what} takes a hostname such as 'legacy.example', not a URL; got {hostname!r}")
    if not _HOSTNAME.fullmatch(hostname):
        raise ValueError(
            f"{what} takes a hostname such as 'legacy.example': letters, digits and hyphens in dot-separated "
            f"labels (RFC 1123 §2.1); got {hostname!r}"
        )
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"{what} takes an IP address second, such as '93.184.215.50'; got {address!r}") from None
    return hostname


def check_vacant_host(
    what: str, hostname: object, address: object, *, on_network: dict[str, str], own: Collection[str]
) -> None:
    """A new host, `check_host`, that the network can hold as asked (`on_network`: name → address
    of the hosts there, `own`: the lab's own servers'). One name and one address per host: a
    second host at a taken name or address silently took over the first one's traffic, and one
    named like the lab's own AS left `lab.auth_server` (registrations, cimd_cache) showing a server
    nothing reached any more. Adding the same name at the same address again (a notebook cell run
    twice) replaces that host, as before."""
    name = check_host(what, hostname, address).lower()
    for taken, at in on_network.items():
        if taken.lower() == name and (name in own or at != address):
            raise ValueError(f"{what}: {hostname!r} is already on the lab network, at {at}; choose another name")
        if at == address and taken.lower() != name:
            raise ValueError(
                f"{what}: the address {address} is already {taken!r}'s on the lab network; choose another address"
            )


@functools.cache
def option_names(function: Callable[..., Any]) -> tuple[str, ...]:
    """The keyword-only options `function` (a function, not a bound method: one entry per
    function) takes, in its order. Read once: `inspect.signature` took 25 µs a connection."""
    parameters = inspect.signature(function).parameters.values()
    return tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)
