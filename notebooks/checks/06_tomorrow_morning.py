"""Sanity checks for notebooks/06_tomorrow_morning.ipynb: assertions that keep its prose true.

They are not in the notebook, so that no static view (GitHub, nbconvert HTML) shows them, and with
them the answers to the exercises. scripts/regenerate_notebooks.py and tests/test_notebooks.py run
each block in the notebook's kernel right after the cell it names ("# %% after: <cell id>").
"""

# %% after: n06-04  (timeline = await revision_timeline())
assert timeline.column("PRM")[0].startswith("no") and timeline.column("PRM")[1:] == ["yes"] * 3
assert timeline.column("client_id via") == ["dcr", "dcr", "cimd", "cimd"]
assert timeline.column("iss checked") == ["no", "no", "no", "yes"]

# %% after: n06-07  (lab_2025_03 = Lab(revision="2025-03-26"))
assert old.records[1].learned["skipped"] and old.records[2].learned["issuer"] == "https://mcp.example.com"

# %% after: n06-09  (lab = Lab())
import json as _json
assert _json.loads(new.records[0].exchanges[0].request_body)["method"] == "tools/list"

# %% after: n06-11  (matrix = await cross_revision_matrix())
assert matrix.column("2026-07-28 only") == ["fails at step 4", "fails at step 7", "fails at step 7", "ok 2026-07-28"]
assert matrix.rows[0][1:] == ["ok 2025-03-26"] + ["fails at step 4"] * 4

# %% after: n06-17  (fallback_lab = Lab(capabilities=ASCapabilities(cimd=False)))
assert fallback.client.state.registration_method == "dcr"
from lab_servers.notebook_support import is_correct
assert is_correct("06-fallback-method", "dcr")

# %% after: n06-21  (await resource_moves("2026-07-28"))
_ids, _outcome = await resource_moves("2026-07-28")
assert _outcome.startswith("ok") and not _ids[1].endswith("-")

# %% after: n06-23  (await resource_moves("2025-11-25"))
_ids, _outcome = await resource_moves("2025-11-25")
assert "unknown client_id" in _outcome

# %% after: n06-27  (for run in await mixup_table():)
_runs = await mixup_table()
assert sum(not r.attack_succeeded for r in _runs) == 1
assert is_correct("06-mixup-stopped", 1) and is_correct("06-prm-revision", "2025-06-18")

# %% after: n06-32c  (registered = await http.post(... json=vs_code))
assert registered.status_code == 201
assert registered.json()["grant_types"] == ["authorization_code", "refresh_token"]
assert not fallback_lab.auth_server.capabilities.cimd
