"""The lab network: virtual DNS, in-process routing to ASGI apps, and transports for httpx and httpx2."""

from .asgi import RawResponse
from .dns import UnknownHost, VirtualDNS
from .network import PINNED_ADDRESS, LabConnectError, LabNetwork, PinnedAddress

__all__ = [
    "PINNED_ADDRESS",
    "LabConnectError",
    "LabNetwork",
    "PinnedAddress",
    "RawResponse",
    "UnknownHost",
    "VirtualDNS",
]
