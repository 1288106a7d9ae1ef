"""RFC 7636 PKCE, as OAuth 2.1 §4.1.1 and §4.1.3 require it: S256 only, on every code."""

from __future__ import annotations

import re

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from .errors import OAuthError

# §4.1 / §4.2: 43–128 characters from the unreserved set (a challenge is base64url, no padding).
# fullmatch, never match with "$": "$" also matches before a final "\n", so a verifier of 43
# characters plus a newline would pass.
_PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def check_code_challenge(challenge: str | None, method: str | None) -> str:
    if not challenge:
        raise OAuthError("invalid_request", "code_challenge is required: PKCE is mandatory (OAuth 2.1 §4.1.1)")
    if method != "S256":
        # §4.3: an omitted method means "plain", which this AS does not accept.
        raise OAuthError(
            "invalid_request",
            f"code_challenge_method must be S256, got {method or 'none (meaning plain)'!r} (RFC 7636 §4.3, MCP §11.4)",
        )
    if not _PKCE_VALUE.fullmatch(challenge):
        raise OAuthError("invalid_request", "code_challenge must be 43-128 unreserved characters (RFC 7636 §4.2)")
    return challenge


def verify_code_verifier(verifier: str | None, challenge: str) -> None:
    if not verifier:
        raise OAuthError(
            "invalid_request", "code_verifier is required: the code was issued with a PKCE challenge (OAuth 2.1 §4.1.3)"
        )
    if not _PKCE_VALUE.fullmatch(verifier):
        raise OAuthError("invalid_grant", "code_verifier must be 43-128 unreserved characters (RFC 7636 §4.1)")
    if create_s256_code_challenge(verifier) != challenge:
        raise OAuthError(
            "invalid_grant",
            "PKCE verification failed: BASE64URL(SHA256(code_verifier)) does not equal the code_challenge (RFC 7636 §4.6)",
        )
