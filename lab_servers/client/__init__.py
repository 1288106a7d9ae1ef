"""The lab client: the MCP client (and its OAuth client) plus the user's browser."""

from .browser import Browser, ConsentPage, Redirect
from .client import Credentials, Decision, HandshakeState, LabClient, decode_jwt_payload
from .records import STEPS, StepError, StepRecord
from .www_authenticate import Challenge, bearer_challenge, parse_www_authenticate

__all__ = [
    "STEPS", "Browser", "Challenge", "ConsentPage", "Credentials", "Decision", "HandshakeState", "LabClient", "Redirect",
    "StepError", "StepRecord", "bearer_challenge", "decode_jwt_payload", "parse_www_authenticate",
]  # fmt: skip
