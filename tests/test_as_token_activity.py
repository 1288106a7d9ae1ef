"""When the AS calls one of its own access tokens active (what introspection answers, RFC 7662
§2.2, and what revocation looks up): signed by it, within its time window, not revoked. The time
window is the one a resource server reads (resource_server/tokens.py), nbf included. And when a
refresh token is still usable: not past its family's end, nor its idle window."""

from __future__ import annotations

from typing import Any

import pytest

from lab_servers import MCP_URL, Lab
from lab_servers.authorization_server.grants import RefreshToken

pytestmark = pytest.mark.anyio


def signed(lab: Lab, **claims: Any) -> str:
    now = lab.clock.now()
    base = {"iss": lab.issuer, "sub": "alice", "aud": MCP_URL, "client_id": "tpc_x", "scope": "notes:read",
            "iat": now, "exp": now + 900, "jti": "activity"}  # fmt: skip
    return lab.auth_server.keys.sign_access_token(base | claims)


@pytest.mark.parametrize(("nbf_in", "active"), [(60, False), (0, True)], ids=["before-nbf", "at-nbf"])
async def test_a_token_is_inactive_before_its_nbf_and_active_from_it(lab: Lab, nbf_in: int, active: bool) -> None:
    # RFC 7519 §4.1.5: the token "MUST NOT be accepted for processing" before nbf; from nbf on it may be.
    token = signed(lab, nbf=lab.clock.now() + nbf_in)
    assert (lab.auth_server.active_access_token(token) is not None) is active


@pytest.mark.parametrize(("end", "idle"), [(10, 100), (100, 10)], ids=["family-end", "idle-window"])
def test_a_refresh_token_is_unusable_from_the_second_either_of_its_ends_comes(end: int, idle: int) -> None:
    # OAuth 2.1 §4.3.3 / RFC 9700 §4.14.2: refresh tokens expire, absolutely and when idle; an
    # end is reached on its second, as exp is (RFC 7519 §4.1.4: "on or after").
    token = RefreshToken("t", "c", "alice", MCP_URL, "notes:read", "f", expires_at=end, idle_expires_at=idle)
    assert token.usable(9) and not token.usable(10)
