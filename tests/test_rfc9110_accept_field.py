"""RFC 9110 §12.5.1's Accept at the MCP server, sent as more than one field line.

Accept = #( media-range [ weight ] ) is a list: §5.3 lets a recipient combine its lines, in
order, "into one field line", and what the server judges, and names in a refusal, is that one.
(test_rule_matrix holds that two lines accepting JSON are served, in either order.)
"""

from __future__ import annotations

import json

import pytest

from lab_servers import Lab

from .test_resource_server_transport import TOOLS_LIST, mint

pytestmark = pytest.mark.anyio


async def test_a_406_names_every_accept_line_the_request_sent(lab: Lab) -> None:
    # RFC 9110 §15.5.7: 406 when no representation is acceptable "according to the proactive
    # negotiation header fields"; the refusal says which: both lines, as the one list they make.
    headers = [("Authorization", f"Bearer {mint(lab)}"), ("Content-Type", "application/json"),
               ("Accept", "text/html"), ("Accept", "image/png")]  # fmt: skip
    async with lab.httpx_client() as http:
        response = await http.post(lab.mcp_url, content=json.dumps(TOOLS_LIST), headers=headers)
    assert response.status_code == 406
    assert "'text/html,image/png'" in response.json()["error"]["message"]
