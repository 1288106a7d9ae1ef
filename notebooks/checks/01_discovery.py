"""Sanity checks for notebooks/01_discovery.ipynb: assertions that keep its prose true.

They are not in the notebook, so that no static view (GitHub, nbconvert HTML) shows them, and with
them the answers to the exercises. scripts/regenerate_notebooks.py and tests/test_notebooks.py run
each block in the notebook's kernel right after the cell it names ("# %% after: <cell id>").
"""

# %% after: n01-06  (show_exchange(step1.exchanges[0], highlight=["WWW-Authenticate", "reso)
_challenge = step1.exchanges[0].response_header("WWW-Authenticate")
assert step1.exchanges[0].status == 401 and _challenge.startswith("Bearer ")
assert 'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"' in _challenge
assert 'scope="notes:read"' in _challenge and "error=" not in _challenge

# %% after: n01-11  (client.state.resource_metadata)
assert [e.url for e in step2.exchanges] == ["https://mcp.example.com/.well-known/oauth-protected-resource/mcp"]
assert client.state.resource_metadata["resource"] == "https://mcp.example.com/mcp"
assert client.state.resource_metadata["authorization_servers"] == ["https://auth.example.com"]

# %% after: n01-16  (http = lab.httpx_client("you"))
assert (wrong.status_code, right.status_code) == (404, 200)

# %% after: n01-19  (my_answer = None   # ← your answer, as a string)
from lab_servers.notebook_support import is_correct
assert is_correct("01-prm-url", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp", lab)

# %% after: n01-23  (as_metadata = client.state.as_metadata)
assert [e.url for e in step3.exchanges] == ["https://auth.example.com/.well-known/oauth-authorization-server"]
assert as_metadata["issuer"] == "https://auth.example.com"
assert as_metadata["client_id_metadata_document_supported"] is True
assert as_metadata["registration_endpoint"] == "https://auth.example.com/register"
assert as_metadata["code_challenge_methods_supported"] == ["S256"]

# %% after: n01-28  (my_answer = None   # ← a list of three URLs)
from lab_servers.notebook_support import is_correct
assert is_correct("01-tenant-as-urls", [
    "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
    "https://auth.example.com/.well-known/openid-configuration/tenant1",
    "https://auth.example.com/tenant1/.well-known/openid-configuration",
])

# %% after: n01-31  (sequence_diagram(client.records, title="Steps 1–3: challenge and disco)
assert [r.name for r in client.records] == ["challenge", "resource-metadata", "as-metadata"]
assert sum(len(r.exchanges) for r in client.records) == 3
