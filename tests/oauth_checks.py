"""What every answer of the authorization server must look like, whatever was sent: no 5xx, and
an error is either an error page (/authorize, before the redirect URI is trusted), a redirect
carrying `error` (after), or a JSON body that is a well-formed RFC 6749 §5.2 error."""

from __future__ import annotations

import re

import httpx

# RFC 6749 §4.1.2.1 and §5.2, RFC 7591 §3.2.2, RFC 8707 §2, RFC 7009 §2.2.1 (revocation),
# and RFC 6750 §3.1 for the MCP server's answers.
OAUTH_ERROR_CODES = {
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type", "invalid_scope",
    "access_denied", "unsupported_response_type", "server_error", "temporarily_unavailable", "invalid_redirect_uri",
    "invalid_client_metadata", "invalid_software_statement", "unapproved_software_statement", "invalid_target",
    "unsupported_token_type", "invalid_token", "insufficient_scope",
}  # fmt: skip
# RFC 6749 §5.2: error and error_description are %x20-21 / %x23-5B / %x5D-7E (no '"', no '\').
_ERROR_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


def assert_well_formed(response: httpx.Response) -> None:
    """No 5xx; every 4xx is a well-formed OAuth error in the form its endpoint uses."""
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code in (302, 303):
        params = httpx.URL(response.headers["location"]).params
        if "error" in params:
            _assert_error(params["error"], params.get("error_description", ""))
        return
    if response.status_code < 400:
        return
    if response.headers.get("content-type", "").startswith("text/html"):
        assert 'data-field="error"' in response.text, response.text[:500]
        return
    body = response.json()
    assert isinstance(body, dict) and set(body) <= {"error", "error_description", "error_uri"}, body
    _assert_error(body["error"], body.get("error_description", ""))
    if response.request.url.host == "auth.example.com":
        assert response.headers.get("cache-control") == "no-store", response.headers  # RFC 6749 §5.1, §5.2


def _assert_error(error: object, description: object) -> None:
    assert error in OAUTH_ERROR_CODES, error
    assert isinstance(description, str) and _ERROR_TEXT.fullmatch(description), description
    assert len(description) <= 600, len(description)
