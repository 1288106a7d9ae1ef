"""Sanity checks for notebooks/03_cimd.ipynb: assertions that keep its prose true.

They are not in the notebook, so that no static view (GitHub, nbconvert HTML) shows them, and with
them the answers to the exercises. scripts/regenerate_notebooks.py and tests/test_notebooks.py run
each block in the notebook's kernel right after the cell it names ("# %% after: <cell id>").
"""

# %% after: n03-03  (from lab_servers import Lab)
_doc = lab.trace.exchanges[-1].json()
assert lab.trace.exchanges[-1].status == 200 and _doc["client_id"] == lab.client_metadata_url == "https://app.example/client.json"
assert {"client_id", "client_name", "redirect_uris"} <= set(_doc) and "client_secret" not in _doc
assert lab.trace.exchanges[-1].response_header("Cache-Control") == "max-age=300"

# %% after: n03-06  (client = lab.client("cimd"))
assert step4.exchanges == [] and client.state.credentials.client_id == "https://app.example/client.json"
assert client.state.as_metadata["client_id_metadata_document_supported"] is True

# %% after: n03-10  (fetch = next(e for e in step5.exchanges if e.caller == "auth.example.c)
assert [e.caller for e in step5.exchanges] == ["browser", "auth.example.com", "browser"]
assert (fetch.host, fetch.path, fetch.status) == ("app.example", "/client.json", 200)
assert fetch.seq > step5.exchanges[0].seq and fetch.done < step5.exchanges[0].done   # fetched while serving /authorize

# %% after: n03-13  (show_consent(client.state.consent_page))
assert client.state.consent_page.fields["client_id"] == "https://app.example/client.json"
assert "verified origin" in client.state.consent_page.html and "app.example" in client.state.consent_page.fields["redirect_host"]

# %% after: n03-16  (step6 = await client.exchange_code())
assert step6.learned["claims"]["client_id"] == "https://app.example/client.json" and step6.learned["claims"]["aud"] == "https://mcp.example.com/mcp"
assert client.state.whoami["client_id"] == "https://app.example/client.json"

# %% after: n03-19  (show_as_state(lab))
assert lab.registrations == {} and list(lab.cimd_cache) == ["https://app.example/client.json"]
_cached = lab.cimd_cache["https://app.example/client.json"]
assert _cached.expires_at - _cached.fetched_at == 300

# %% after: n03-22  (lab.clock.advance(600))
assert sum(e.host == "app.example" and e.caller == "auth.example.com" for e in lab.trace) == 2
assert lab.registrations == {} and len(lab.cimd_cache) == 1

# %% after: n03-25  (my_answer = None)
from lab_servers.notebook_support import is_correct
assert is_correct("03-register-requests", 0)
assert not any(e.method == "POST" and e.path == "/register" for e in lab.trace)

# %% after: n03-28  (my_prediction = None   # e.g. "invalid_request", "invalid_client", "ac)
from lab_servers.notebook_support import is_correct
assert is_correct("03-mismatch-error", "invalid_client")

# %% after: n03-31  (lab.publish_client_document("https://app.example/agent.json", {)
assert error is not None and error.number == 5 and "invalid_client" in error.reason and "not exactly the URL" in error.reason
assert "https://app.example/agent.json" not in lab.cimd_cache   # invalid documents are never cached

# %% after: n03-34  (refused = lab.client("cimd", decision="deny"))
assert error is not None and error.number == 5 and "access_denied" in error.reason and refused.state.access_token is None
