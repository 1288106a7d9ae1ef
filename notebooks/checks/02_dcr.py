"""Sanity checks for notebooks/02_dcr.ipynb: assertions that keep its prose true.

They are not in the notebook, so that no static view (GitHub, nbconvert HTML) shows them, and with
them the answers to the exercises. scripts/regenerate_notebooks.py and tests/test_notebooks.py run
each block in the notebook's kernel right after the cell it names ("# %% after: <cell id>").
"""

# %% after: n02-06  (show_exchange(step4.exchanges[0], highlight=["client_id", "token_endpo)
_register = step4.exchanges[0]
assert (_register.method, _register.path, _register.status) == ("POST", "/register", 201)
_body = __import__("json").loads(_register.request_body)
assert "client_id" not in _body and _body["token_endpoint_auth_method"] == "none"
assert client.state.credentials.client_id.startswith("tpc_") and client.state.credentials.client_secret is None

# %% after: n02-05  (step4 = await client.get_client_id())
from lab_servers.notebook_support import is_correct
assert is_correct("02-register-status", 201) and step4.exchanges[0].status == 201

# %% after: n02-13  (client.state.issuer, client.state.credentials)
assert list(lab.registrations) == [client.state.credentials.client_id]
assert lab.registrations[client.state.credentials.client_id].kind == "dcr" and not lab.cimd_cache

# %% after: n02-20  (show_exchange(step5.exchanges[-1], highlight=["Location", "code", "sta)
_authorize = step5.exchanges[0]
assert _authorize.path.startswith("/authorize?") and "code_challenge_method=S256" in _authorize.url
assert "resource=https%3A%2F%2Fmcp.example.com%2Fmcp" in _authorize.url
assert "unverified" in client.state.consent_page.html
assert step5.exchanges[-1].status == 303 and step5.exchanges[-1].response_header("Location").startswith("https://app.example/callback?code=")

# %% after: n02-24  (show_token(client.state.access_token))
_claims = step6.learned["claims"]
assert _claims["client_id"] == client.state.credentials.client_id and _claims["aud"] == "https://mcp.example.com/mcp"
assert "code_verifier=" in step6.exchanges[0].request_body and "resource=" in step6.exchanges[0].request_body

# %% after: n02-28  (client.state.whoami)
assert client.state.whoami["client_id"] == client.state.credentials.client_id and client.state.whoami["sub"] == "alice"

# %% after: n02-31  (my_prediction = None)
from lab_servers.notebook_support import is_correct
assert is_correct("02-records-after-three", 3)

# %% after: n02-33  (for _ in range(2):)
assert len(lab.registrations) == 3 and all(c.kind == "dcr" for c in lab.registrations.values())
assert len({c.client_name for c in lab.registrations.values()}) == 1   # three records, one name
# Run All, then back to the PKCE exercise: the Solution is still right, beside two more clients' challenges.
assert is_correct("02-pkce-s256", _s256, lab) and is_correct("02-pkce-s256", _s256, client)

# %% after: n02-36  (sequence_diagram(client.records, title="One DCR connection, steps 1–7")
assert [r.number for r in client.records] == [1, 2, 3, 4, 5, 6, 7]
assert sum(e.path == "/register" for step in client.records for e in step.exchanges) == 1

# %% after: n02-pkce  (the PKCE exercise)
import base64 as _b64, hashlib as _hl
_s256 = _b64.urlsafe_b64encode(_hl.sha256(client.state.code_verifier.encode("ascii")).digest()).decode().rstrip("=")
assert is_correct("02-pkce-s256", _s256, lab) and "code_challenge=" + _s256 in step5.exchanges[0].url

# %% after: n02-stolen  (the attacker redeems a stolen code with a guessed verifier)
assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant" and "PKCE" in stolen.json()["error_description"]

# %% after: n02-stolen-3  (the real client's exchange after the attacker's refused attempt)
assert victim_step6.exchanges[0].status == 200 and victim.state.access_token is not None
assert victim_lab.auth_server.codes[victim.state.code].used   # spent by this redemption, not by the refusal
