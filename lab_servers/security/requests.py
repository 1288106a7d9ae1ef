"""The few requests the experiments send, as the parties that send them would."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ..client import Browser, ConsentPage, Redirect
from ..lab import Lab

# A fixed PKCE pair: the experiments are about client identity, not about PKCE.
CODE_VERIFIER = "lab-security-experiments-code-verifier-0123456789"
CODE_CHALLENGE = create_s256_code_challenge(CODE_VERIFIER)


async def register(lab: Lab, metadata: Any, *, caller: str = "client") -> httpx.Response:
    """POST /register (RFC 7591 §3.1) from `caller`, the address the AS sees."""
    async with lab.httpx_client(caller) as http:
        return await http.post(f"{lab.issuer}/register", json=metadata)


def authorization_url(lab: Lab, client_id: str, redirect_uri: str, *, issuer: str | None = None) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": CODE_CHALLENGE,
        "code_challenge_method": "S256",
        "state": "lab-state",
        "resource": lab.mcp_url,
        "scope": "notes:read",
    }
    return f"{issuer or lab.issuer}/authorize?" + urlencode(params)


async def open_authorization(
    lab: Lab, client_id: str, redirect_uri: str, *, issuer: str | None = None
) -> ConsentPage | Redirect:
    """The user's browser opens the authorization URL: a consent page, or an error page."""
    async with lab.httpx_client("browser") as http:
        return await Browser(http).open(authorization_url(lab, client_id, redirect_uri, issuer=issuer))


def refusal(page: ConsentPage | Redirect) -> tuple[str, str] | None:
    """(error, description) when the AS refused before consent, None when it showed consent."""
    if isinstance(page, ConsentPage) and not page.is_consent:
        return page.fields.get("error", ""), page.fields.get("error_description", "")
    return None
