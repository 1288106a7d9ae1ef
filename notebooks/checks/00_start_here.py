"""Sanity checks for notebooks/00_start_here.ipynb: assertions that keep its prose true.

They are not in the notebook, so that no static view (GitHub, nbconvert HTML) shows them, and with
them the answers to the exercises. scripts/regenerate_notebooks.py and tests/test_notebooks.py run
each block in the notebook's kernel right after the cell it names ("# %% after: <cell id>").
"""

# %% after: n00-04  (from lab_servers import Lab)
assert dcr.client_id.startswith("tpc_") and cimd.client_id == "https://app.example/client.json"
assert dcr.whoami["sub"] == cimd.whoami["sub"] == "alice"
assert dcr.whoami["aud"] == cimd.whoami["aud"] == "https://mcp.example.com/mcp"
assert list(lab.registrations) == [dcr.client_id] and list(lab.cimd_cache) == [cimd.client_id]

# %% after: n00-07  (sequence_diagram(cimd, title="One CIMD connection, steps 1–7"))
assert [e.step for step in cimd.records for e in step.exchanges].count("authorize") == 3  # incl. the AS fetching client.json
assert any(e.host == "app.example" and e.caller == "auth.example.com" for e in lab.trace)
