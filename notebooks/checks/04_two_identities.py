"""Sanity checks for notebooks/04_two_identities.ipynb: assertions that keep its prose true.

They are not in the notebook, so that no static view (GitHub, nbconvert HTML) shows them, and with
them the answers to the exercises. scripts/regenerate_notebooks.py and tests/test_notebooks.py run
each block in the notebook's kernel right after the cell it names ("# %% after: <cell id>").
"""

# %% after: n04-02  (from lab_servers import Lab)
assert dcr.client_id.startswith("tpc_") and cimd.client_id == "https://app.example/client.json"
assert dcr.whoami["sub"] == cimd.whoami["sub"] and dcr.whoami["scope"] == cimd.whoami["scope"]

# %% after: n04-05  (sequence_diagram(lab.trace, title="DCR, then CIMD: same agent, same se)
assert sum(e.path == "/register" for e in lab.trace) == 1
assert sum(e.host == "app.example" for e in lab.trace) == 1

# %% after: n04-11  (my_answer = None)
from lab_servers.notebook_support import is_correct
assert is_correct("04-differing-claims", ["client_id", "jti"])

# %% after: n04-14  (dcr_claims, cimd_claims = decode_jwt_payload(dcr.access_token), decode)
assert set(dcr_claims) == set(cimd_claims)
assert {c for c in dcr_claims if dcr_claims[c] != cimd_claims[c]} == {"client_id", "jti"}

# %% after: n04-17  (show_as_state(lab))
assert list(lab.registrations) == [dcr.client_id] and lab.registrations[dcr.client_id].kind == "dcr"
assert list(lab.cimd_cache) == [cimd.client_id]
assert lab.as_state()["issued_tokens"] == 2

# %% after: n04-20  (my_answers = {"a": None, "b": None, "c": None})
from lab_servers.notebook_support import is_correct
assert is_correct("04-best-fit", {"a": "cimd", "b": "dcr", "c": "preregistered"})

# %% after: n04-outside-load  (outside = load_trace("sdk-client-trace.jsonl"))
from lab_servers.client import decode_jwt_payload as _claims
_paths = [e.path.split("?")[0] for e in outside]
assert _paths[:7] == ["/mcp", "/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server",
                      "/register", "/authorize", "/authorize/decision", "/token"]
assert [e.status for e in outside][:7] == [401, 200, 200, 201, 200, 303, 200]
assert all(e.step is None for e in outside)  # an outside client names no steps
_by_seq = {e.seq: e for e in outside}
assert _by_seq[9].path == "/jwks.json" and _by_seq[9].done < _by_seq[8].done
assert _by_seq[1].caller.startswith("python-httpx2/") and _by_seq[5].caller.startswith("python-httpx/")
assert _by_seq[2].caller == "127.0.0.1"
assert _by_seq[4].json()["client_name"] == "SDK Agent"
assert len(_by_seq[1].request_body) == int(_by_seq[1].request_header("content-length"))  # the 401's body, as sent
_token = _claims(access_tokens(outside)[0])
assert _token["client_id"].startswith("tpc_") and _token["aud"].startswith("https://127.0.0.1:")
