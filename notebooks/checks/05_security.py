"""Sanity checks for notebooks/05_security.ipynb: assertions that keep its prose true.

They are not in the notebook, so that no static view (GitHub, nbconvert HTML) shows them, and with
them the answers to the exercises. scripts/regenerate_notebooks.py and tests/test_notebooks.py run
each block in the notebook's kernel right after the cell it names ("# %% after: <cell id>").
"""

# %% after: n05-03  (from lab_servers import HARDENED, NAIVE, Lab)
_rules = dict(policy_table(NAIVE, HARDENED).rows())
assert {"follow_redirects", "block_special_use_addresses", "pin_vetted_address", "consent_shows_hostnames", "registration_rate_limit"} <= set(_rules)

# %% after: n05-06  (SCALED = HARDENED.but(max_registrations=400, max_cached_documents=250))
assert [r.details["points"][-1].dcr_records for r in sprawl] == [600, 400]
assert [r.details["points"][-1].cimd_records for r in sprawl] == [0, 0]
assert [r.details["points"][-1].cimd_cached for r in sprawl] == [600, 250]
assert sprawl[1].details["points"][-1].dcr_refused == 200

# %% after: n05-09  ({r.policy: r.details["a_day_later"] for r in sprawl})
assert sprawl[0].details["a_day_later"] == {"dcr_records": 600, "cimd_fresh_documents": 0}

# %% after: n05-13  (impersonation[1].details["consent_identity"])
assert [r.outcome for r in impersonation] == ["dcr indistinguishable; cimd indistinguishable", "dcr indistinguishable; cimd impostor exposed"]
assert "evil.example" in impersonation[1].details["consent_identity"]["cimd impostor"]

# %% after: n05-17  (stolen = next(e for e in ssrf[0].exchanges if e.path.endswith("/logo"))
assert [r.outcome for r in ssrf] == ["leaked", "refused"]
assert "FAKE-lab-secret-key-not-real" in stolen.response_body and ssrf[1].details["internal_requests"] == []

# %% after: n05-22  (UNPINNED = HARDENED.but(name="hardened, not pinned", pin_vetted_addres)
assert [r.outcome for r in rebinding] == ["rebinding never reached an internal service", "rebinding reached an internal service", "rebinding never reached an internal service"]
assert rebinding[0].details["connections"]["private.evil.example"].endswith("connected to 10.0.0.5 → 200")   # the naive AS needs no rebinding

# %% after: n05-25  (secrets = await run_per_server_secrets(HARDENED, servers=3))
assert [s.dcr_records for s in secrets.details["after_rotation"]] == [2, 2, 2]
assert (await run_per_server_secrets(NAIVE, servers=3)).details == secrets.details   # no AS policy changes this

# %% after: n05-29  (flood[1].details["first_refusal"])
assert [r.outcome for r in flood] == ["legitimate client locked out", "legitimate client registered"]
assert flood[1].details["first_refusal"]["status"] == 429 and flood[1].details["first_refusal"]["retry_after"] == "60"

# %% after: n05-32  (rules = [await run_cimd_rules(NAIVE), await run_cimd_rules(HARDENED)])
assert rules[1].outcome == "every rule enforced"
assert sum(row["internal_requests"] for row in rules[0].details["rows"]) >= 4 and all(row["internal_requests"] == 0 for row in rules[1].details["rows"])

# %% after: n05-37  (lab = Lab(seed=0))
assert page.is_consent and "evil.example" in page.fields["who"] and lab.registrations == {}

# %% after: n05-44  (my_answer = {"a": None, "b": None, "c": None, "d": None})
# The key against the hardened AS itself: each case run, its verdict compared with the key, and
# (c)'s refusal checked to come from the rule the solution names.
from lab_servers.notebook_support import is_correct
from lab_servers.security.exercises import which_refused_observed
_observed = await which_refused_observed(HARDENED)
assert is_correct("05-which-refused", {case: verdict for case, (verdict, _) in _observed.items()}), _observed
assert "special-use address 100.64.0.7 (carrier-grade NAT" in _observed["c"][1] and "not exactly the URL" in _observed["a"][1]

# %% after: n05-47  (my_document = None   # a dict, e.g. {"client_id": CRAFTED_URL, "client)
assert await crafted_document_accepted(valid_document(CRAFTED_URL, client_name="Claude Desktop"))
assert not await crafted_document_accepted(valid_document(CRAFTED_URL, client_secret="s3cret"))

# %% after: n05-50  (my_answer = None   # the field's name, as a string)
# Every hardened switch turned off in turn: the key must be the only one that lets rebinding through.
from lab_servers.notebook_support import is_correct
from lab_servers.security.exercises import switches_that_let_rebinding_through
_through = await switches_that_let_rebinding_through()
assert len(_through) == 1 and is_correct("05-rebinding-rule", _through[0]), _through

# %% after: n05-sessions  (100 sessions of one agent)
assert [r.details["points"][-1].dcr_records for r in sessions] == [100, 100]
assert [r.details["points"][-1].cimd_cached for r in sessions] == [1, 1] and [r.details["fetches"] for r in sessions] == [20, 20]
assert all(r.details["dcr_client_ids"] == 100 for r in sessions)

# %% after: n05-installs  (600 installs of one agent)
assert [r.details["points"][-1].dcr_records for r in installs] == [600, 400]
assert [r.details["points"][-1].cimd_cached for r in installs] == [1, 1]
assert [r.details["points"][-1].cimd_records for r in installs] == [0, 0]

# %% after: n05-art-ssrf  (the naive CIMD server's fetches into its own network)
assert sum(row["internal_requests"] for row in rules[0].details["rows"]) >= 4

# %% after: n05-art-401  (both servers' 401 challenges)
_article = (await http.post(ARTICLE_MCP_URL, json=initialize)).headers["WWW-Authenticate"]
assert 'error="unauthorized"' in _article and "not an RFC 6750 error code" in strict_reading(_article)
_ours = (await http.post(lab.mcp_url, json=initialize)).headers["WWW-Authenticate"]
assert "error=" not in _ours and strict_reading(_ours).startswith("no error code")
assert "unauthorized" not in (await http.post(lab.mcp_url, json=initialize)).text   # the lab's own 401 body teaches the same

# %% after: n05-art-prm  (the strict client and the article's PRM)
assert error is not None and error.number == 2 and "RFC 9728 §3.3" in error.reason

# %% after: n05-art-aud  (the article's server accepts a token for another server)
assert response.status_code == 200 and response.json()["result"]["accepted_token_for"]["aud"] == "https://mcp.example.com/mcp"

# %% after: n05-art-aud-3  (the lab's server refuses a token for the article's server)
assert response.status_code == 401 and 'error="invalid_token"' in response.headers["WWW-Authenticate"] and "audience" in response.headers["WWW-Authenticate"]

# %% after: n05-art-dcr  (2025-11-25: DCR is still allowed)
assert metadata["registration_endpoint"] and metadata["client_id_metadata_document_supported"] is True
assert no_document.client_id.startswith("tpc_")
