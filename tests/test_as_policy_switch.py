"""Switching the AS's policy re-judges what it accepted before: a CIMD document cached under the
naive policy is not served from the cache under the hardened one (policy.py: experiments flip a
rule and rerun; a cached acceptance would carry the old rule into the new run), and the naive
policy relaxes the rules the hardened one enforces."""

from __future__ import annotations

import pytest

from lab_servers import Lab
from lab_servers.authorization_server.authorize import choose_resource
from lab_servers.authorization_server.errors import OAuthError
from lab_servers.authorization_server.policy import HARDENED, NAIVE
from lab_servers.lab import default_client_metadata

pytestmark = pytest.mark.anyio


async def test_a_document_cached_under_the_naive_policy_is_judged_again_under_the_hardened_one(lab: Lab) -> None:
    host = lab.metadata_hosts["app.example"]
    url = host.url("/page.json")
    # Served as text/html: the naive AS takes any body (CIMD -02 allows it); the hardened one
    # wants a JSON media type or text/plain (the lab's rule), and refuses it.
    host.publish("/page.json", default_client_metadata(url), content_type="text/html")
    lab.auth_server.policy = NAIVE
    assert (await lab.auth_server.cimd.resolve(url)).client_id == url  # fetched, cached for max-age=300
    lab.auth_server.policy = HARDENED
    with pytest.raises(OAuthError) as refused:
        await lab.auth_server.cimd.resolve(url)
    assert refused.value.error == "invalid_client" and "text/html" in refused.value.description


async def test_only_the_hardened_policy_requires_mcps_document_fields(lab: Lab) -> None:
    # MCP §5.1.1: the document carries client_id, client_name and redirect_uris; the naive AS
    # (policy.py: "it trusts what it is given") takes one without client_name all the same.
    host = lab.metadata_hosts["app.example"]
    url = host.url("/nameless.json")
    host.publish("/nameless.json", {k: v for k, v in default_client_metadata(url).items() if k != "client_name"})
    lab.auth_server.policy = NAIVE
    assert (await lab.auth_server.cimd.resolve(url)).client_name is None
    lab.auth_server.policy = HARDENED
    with pytest.raises(OAuthError) as refused:
        await lab.auth_server.cimd.resolve(url)
    assert refused.value.error == "invalid_client" and "no client_name" in refused.value.description
    assert "MCP section 5.1.1" in refused.value.description  # ASCII: RFC 6749 §5.2


async def test_only_the_hardened_policy_requires_the_resource_parameter(lab: Lab) -> None:
    # MCP §8 (RFC 8707): clients MUST send resource, and the hardened AS refuses a request
    # without it (invalid_target); the naive one reads a missing resource as its first.
    lab.auth_server.policy = NAIVE
    assert choose_resource(lab.auth_server, None) == lab.auth_server.resources[0]
    lab.auth_server.policy = HARDENED
    with pytest.raises(OAuthError) as refused:
        choose_resource(lab.auth_server, None)
    assert refused.value.error == "invalid_target" and "resource is required" in refused.value.description
