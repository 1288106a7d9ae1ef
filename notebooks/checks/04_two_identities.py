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
