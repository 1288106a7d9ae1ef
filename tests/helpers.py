"""Drive the authorization server by hand, one request at a time, for the negative tests."""

from __future__ import annotations

import base64
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from lab_servers import ISSUER, MCP_URL, Lab
from lab_servers.client import Browser, ConsentPage, Redirect

REDIRECT_URI = "https://app.example/callback"
VERIFIER = "v" * 43
CHALLENGE = create_s256_code_challenge(VERIFIER)


def authorization_url(client_id: str, /, **overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "state": "st",
        "resource": MCP_URL,
        "scope": "notes:read",
    }
    params.update(overrides)
    return f"{ISSUER}/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


async def open_authorization(lab: Lab, client_id: str, /, **overrides: str | None) -> ConsentPage | Redirect:
    return await Browser(lab.httpx_client("browser")).open(authorization_url(client_id, **overrides))


def sent_back(outcome: ConsentPage | Redirect) -> Redirect:
    """Where an authorization request's error goes back to the client: the redirect itself, or,
    for a redirect URI the hardened AS does not trust (a DCR or CIMD client's, RFC 9700 §4.11.2),
    the way back its error page offers the user."""
    if isinstance(outcome, Redirect):
        return outcome
    assert outcome.status == 400 and outcome.way_back, outcome
    return Redirect(outcome.way_back)


async def get_code(lab: Lab, client_id: str, /, **overrides: str | None) -> str:
    browser = Browser(lab.httpx_client("browser"))
    page = await browser.open(authorization_url(client_id, **overrides))
    assert isinstance(page, ConsentPage) and page.is_consent, page
    redirect = await browser.decide(page, "approve")
    assert isinstance(redirect, Redirect)
    return redirect.params["code"]


async def token_request(lab: Lab, form: dict[str, str], **kwargs: Any) -> httpx.Response:
    async with lab.httpx_client("client") as http:
        return await http.post(f"{ISSUER}/token", data=form, **kwargs)


def code_form(client_id: str, code: str, /, **overrides: str | None) -> dict[str, str]:
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": VERIFIER,
        "resource": MCP_URL,
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def refresh_form(client_id: str, refresh_token: str, /, **extra: str) -> dict[str, str]:
    """A public client's refresh request (OAuth 2.1 §4.3.1, RFC 6749 §6): grant_type, the refresh
    token and client_id; nothing else unless given (scope, resource), so each test shows the rest."""
    return {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, **extra}


async def register(lab: Lab, body: Any) -> httpx.Response:
    async with lab.httpx_client("client") as http:
        return await http.post(f"{ISSUER}/register", json=body)


def assert_oauth_error(response: httpx.Response, status: int, error: str, *mentions: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    for text in mentions:
        assert text in body["error_description"], body


# JOSE headers that are valid JSON but not a JSON object (RFC 7515 §4): joserfc only checks that
# "alg" is `in` the header, which each of these but the last two passes, then indexes it.
HOSTILE_JWT_HEADERS = [
    pytest.param('["alg", "b64"]', id="array-alg-b64"),
    pytest.param('["alg"]', id="array-alg"),
    pytest.param('"alg"', id="string-alg"),
    pytest.param('"alg b64"', id="string-alg-b64"),
    pytest.param("42", id="number"),
    pytest.param("null", id="null"),
]


def jwt_with_header(header: str, claims: Any) -> str:
    """A compact JWS with this exact header text, these claims and a signature that verifies nothing."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{b64(header.encode())}.{b64(json.dumps(claims).encode())}.{b64(b'not-a-signature')}"


def signed_jwt(header: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
    """A compact JWS of exactly this header and these claims, signed by `key` (a joserfc private
    key) under the header's alg: joserfc's own encoder refuses a header it does not understand,
    which a stranger's need not. Two forgeries too: an alg of none in any case gets an empty
    signature (RFC 7515 §A.5), and HS256 is keyed with the PEM of the key's public half, the
    algorithm confusion of RFC 8725 §2.1."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from joserfc.jws import JWSRegistry

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}".encode()
    if header["alg"].lower() == "none":
        signature = b""
    elif header["alg"] == "HS256":
        public = key.get_op_key("verify").public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        signature = hmac.new(public, signing_input, hashlib.sha256).digest()
    else:
        signature = JWSRegistry.algorithms[header["alg"]].sign(signing_input, key)
    return f"{signing_input.decode()}.{b64(signature)}"


class ExecutedLines:
    """Lines of Python run while counting; `.count` once the block is over."""

    count = 0


@contextlib.contextmanager
def lines_executed(in_file: Callable[[str], bool]) -> Iterator[ExecutedLines]:
    """Count the lines run, in the block, by frames whose file `in_file` accepts: a measure of
    work that does not depend on the machine (no timed tests), and that ignores C code."""
    counted = ExecutedLines()

    def count_lines(frame: FrameType, event: str, arg: Any) -> Any:
        counted.count += event == "line"
        return count_lines

    def chosen_frames_only(frame: FrameType, event: str, arg: Any) -> Any:
        return count_lines if in_file(frame.f_code.co_filename) else None

    # The tracer in place before (coverage's, a debugger's) comes back after: set to None, every
    # later test in the process ran untraced, and coverage reported their lines as never run.
    previous = sys.gettrace()
    sys.settrace(chosen_frames_only)
    try:
        yield counted
    finally:
        sys.settrace(previous)
