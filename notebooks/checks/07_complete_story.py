"""Sanity checks for notebooks/07_complete_story.ipynb: assertions that keep its prose true.

They are not in the notebook, so that no static view shows them, and with them the answers to the
exercises. scripts/regenerate_notebooks.py and tests/test_notebooks.py run each block in the
notebook's kernel right after the cell it names ("# %% after: <cell id>").
"""

# %% after: n07-03  (lab = Lab(seed=0) ... connect)
from lab_servers.client import decode_jwt_payload
from lab_servers.notebook_support import is_correct

assert "refresh_token" in client.state.tokens and "offline_access" not in client.state.scope

# %% after: n07-05  (lab.clock.advance(901); call_tool)
assert [r.name for r in client.records[start:]] == ["refresh", "call"]
assert client.records[start].learned["rotated"] is True

# %% after: n07-11  (replay)
assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
assert is_correct("07-refresh-reuse", replay.json()["error"])

# %% after: n07-13  (client.refresh() fails)
assert error is not None and error.name == "refresh" and "invalid_grant" in error.reason

# %% after: n07-18  (add_note)
assert [r.name for r in client.records[start:]] == ["step-up", "authorize", "token", "call"]
assert set(client.records[start].learned["union"].split()) == {"notes:read", "notes:write"}
assert set(client.records[start].learned["challenged"].split()) == {"notes:read", "notes:write"}
assert is_correct("07-step-up-union", {"notes:read", "notes:export", "notes:write"})

# %% after: n07-22  (denied step-up)
assert error is not None and error.name == "authorize" and "access_denied" in error.reason

# %% after: n07-27  (revoke, local check)
assert revoked.status_code == 200 and not local.get("isError")

# %% after: n07-28  (introspection)
assert [r.name for r in client.records[start:]] == ["refresh", "call"]
assert is_correct("07-revoked-jwt", {"a": "accepted", "b": "refused"})

# %% after: n07-33  (other MCP server)
assert elsewhere.status_code == 401 and "audience" in elsewhere.json()["error_description"]

# %% after: n07-36  (passthrough)
assert result["isError"] is True and "token passthrough is forbidden" in result["structuredContent"]["error"]

# %% after: n07-39  (exchange)
assert result["structuredContent"]["actor"] == "notes-mcp-server"
assert decode_jwt_payload(lab.resource_server.downstream.last_exchange["access_token"])["act"] == {"sub": "notes-mcp-server"}

# %% after: n07-44  (evil target)
assert result["isError"] is True and "invalid_target" in result["structuredContent"]["error"]
assert is_correct("07-exchange-error", "invalid_target")

# %% after: n07-47  (jwt-bearer not supported)
assert attempt.status_code == 400 and attempt.json()["error"] == "unsupported_grant_type"

# %% after: n07-48  (enterprise-managed flow)
assert [r.name for r in enterprise.records] == ["challenge", "resource-metadata", "as-metadata", "id-jag", "jwt-bearer", "mcp"]
assert "refresh_token" not in enterprise.state.tokens and enterprise.state.whoami["sub"] == "alice"

# %% after: n07-52  (replayed ID-JAG)
assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant" and "replay" in replayed.json()["error_description"]
assert is_correct("07-id-jag-replay", replayed.json()["error"])

# %% after: n07-56  (client credentials)
assert [r.name for r in job.records] == ["challenge", "resource-metadata", "as-metadata", "client-credentials", "mcp"]
assert job.records[3].number == 13 and "refresh_token" not in job.state.tokens
assert job.state.whoami["sub"] == job.state.whoami["client_id"] == SERVICE_CLIENT_ID
assert not [e for e in lab.trace.exchanges[start:] if e.caller == "browser"]

# %% after: n07-58  (the token request)
assert "grant_type=client_credentials" in token_request.request_body
assert "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer" in token_request.request_body
assert "client_secret" not in token_request.request_body and token_request.status == 200

# %% after: n07-59  (the job's token)
assert decode_jwt_payload(job.state.access_token)["sub"] == SERVICE_CLIENT_ID

# %% after: n07-62  (a document without keys)
assert error is not None and error.name == "client-credentials" and "401 invalid_client" in error.reason
assert is_correct("07-client-credentials-public", "invalid_client")
