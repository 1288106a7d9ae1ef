"""The MCP auth lab: in-process MCP resource server, authorization server (DCR and CIMD),
client-metadata host, and a step-by-step MCP client, all on one traced virtual network.

    from lab_servers import Lab
    lab = Lab(seed=0)
    dcr = await lab.connect("dcr")
    cimd = await lab.connect("cimd")
    dcr.client_id, cimd.client_id   # ('tpc_…', 'https://app.example/client.json')
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # The submodules the README calls after `import lab_servers` (`lab_servers.sdk.sdk_whoami(lab)`),
    # which `__getattr__` imports on first use: declared for type checkers, which read no
    # `__getattr__` but its return type (to mypy, `lab_servers.sdk` was an `object`). Aliased to
    # themselves: re-exported (PEP 484), not unused.
    from . import sdk as sdk
    from . import security as security
    from . import serve_process as serve_process
    from .authorization_server import HARDENED, NAIVE, ASCapabilities, ASPolicy, AuthorizationServer, Client, OAuthError
    from .client import STEPS, Credentials, LabClient, StepError, StepRecord
    from .determinism import LabClock, SeededIds
    from .lab import CLIENT_METADATA_URL, ISSUER, MCP_URL, Connection, Lab, default_client_metadata
    from .metadata_host import HostedResponse, MetadataHost
    from .network import LabNetwork
    from .resource_server import ResourceServer
    from .revisions import DEFAULT_REVISION, PREVIOUS_REVISION, REVISIONS, Revision
    from .trace import Exchange, Trace
    from .trace_file import load_trace

# The public API, imported on first use (PEP 562): `from lab_servers import Lab` loads the
# servers, the SDK and FastAPI (about a second), while a command that needs only the client,
# such as `python -m lab_servers conformance-client` (started once per conformance scenario),
# loads only what it uses.
_EXPORTED_FROM = {
    ".authorization_server": ["HARDENED", "NAIVE", "ASCapabilities", "ASPolicy", "AuthorizationServer", "Client", "OAuthError"],
    ".client": ["STEPS", "Credentials", "LabClient", "StepError", "StepRecord"],
    ".determinism": ["LabClock", "SeededIds"],
    ".lab": ["CLIENT_METADATA_URL", "ISSUER", "MCP_URL", "Connection", "Lab", "default_client_metadata"],
    ".metadata_host": ["HostedResponse", "MetadataHost"],
    ".network": ["LabNetwork"],
    ".resource_server": ["ResourceServer"],
    ".revisions": ["DEFAULT_REVISION", "PREVIOUS_REVISION", "REVISIONS", "Revision"],
    ".trace": ["Exchange", "Trace"],
    ".trace_file": ["load_trace"],
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _EXPORTED_FROM.items() for name in names}


def __getattr__(name: str) -> object:
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(_MODULE_OF[name], __name__), name)
    elif _is_submodule(name):
        # A submodule, as the README calls them after `import lab_servers`
        # (`lab_servers.sdk.sdk_whoami(lab)`): a package's submodule is its attribute only once
        # imported, so that was an AttributeError until something else had imported it.
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # the next lookup is an ordinary attribute
    return value


def _is_submodule(name: str) -> bool:
    """True when `name` is one of this package's submodules. Only a plain name is looked up:
    `find_spec("lab_servers.sdk.x")` imports `lab_servers.sdk` and raised ModuleNotFoundError
    out of `hasattr(lab_servers, "sdk.x")`, where PEP 562's `__getattr__` raises AttributeError
    for any name it has not."""
    return (
        name.isidentifier() and not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None
    )


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])


# Libraries that log every request (httpx, the MCP SDK's session manager) would write into
# notebook outputs; the trace already records every exchange, so keep them quiet.
for _name in ("httpx", "httpx2", "mcp", "uvicorn.access"):
    logging.getLogger(_name).setLevel(logging.WARNING)

__all__ = [
    "CLIENT_METADATA_URL",
    "DEFAULT_REVISION",
    "HARDENED",
    "ISSUER",
    "MCP_URL",
    "NAIVE",
    "PREVIOUS_REVISION",
    "REVISIONS",
    "STEPS",
    "ASCapabilities",
    "ASPolicy",
    "AuthorizationServer",
    "Client",
    "Connection",
    "Credentials",
    "Exchange",
    "HostedResponse",
    "Lab",
    "LabClient",
    "LabClock",
    "LabNetwork",
    "MetadataHost",
    "OAuthError",
    "ResourceServer",
    "Revision",
    "SeededIds",
    "StepError",
    "StepRecord",
    "Trace",
    "default_client_metadata",
    "load_trace",
]  # fmt: skip
