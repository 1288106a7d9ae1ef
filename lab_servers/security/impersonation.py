"""Impersonation: who is asking? DCR cannot say; CIMD says which host vouches for the client.

A DCR `client_name` is whatever the registering party typed (RFC 7591 §2: the AS cannot verify
it). An attacker registers "Claude Desktop" with its own loopback redirect, exactly like the
real desktop app, and the consent page has nothing else to show. Under CIMD the attacker must
host its document on its own domain, and consent shows that hostname (CIMD -02 §8.5, MCP
§11.6.2); naming itself "Claude Desktop" no longer hides where it comes from.
"""

from __future__ import annotations

from ..authorization_server import ASPolicy
from ..client import ConsentPage
from ..lab import Lab, default_client_metadata
from .network_fixtures import ATTACKER_HOST, add_internal_network
from .requests import open_authorization, refusal, register
from .results import ExperimentResult

REAL_APP_HOST = "claude.example"  # stands in for the real vendor's domain
REAL_APP_ADDRESS = "93.184.215.50"
REAL_DOCUMENT_URL = f"https://{REAL_APP_HOST}/desktop/client.json"
IMPOSTOR_DOCUMENT_URL = f"https://{ATTACKER_HOST}/claude-desktop.json"
DISPLAY_NAME = "Claude Desktop"
# Desktop apps receive the code on a loopback port (RFC 8252 §7.3); real and fake alike.
REAL_REDIRECT = "http://127.0.0.1:6274/callback"
IMPOSTOR_REDIRECT = "http://127.0.0.1:33418/callback"


def what_the_user_sees(page: ConsentPage) -> str:
    """The identity part of the consent page: who is asking, on whose word, and any warning."""
    fields = page.fields
    lines = [fields.get("who", "").strip(), fields.get("provenance", "").strip(), fields.get("warning", "").strip()]
    return " | ".join(line for line in lines if line)


async def run_impersonation(policy: ASPolicy) -> ExperimentResult:
    async with Lab(seed="impersonation", policy=policy) as lab:
        add_internal_network(lab)
        real_host = lab.add_metadata_host(REAL_APP_HOST, REAL_APP_ADDRESS)
        desktop = {k: v for k, v in default_client_metadata().items() if k not in ("client_id", "client_uri")}
        desktop.update(client_name=DISPLAY_NAME, application_type="native")
        # DCR: the real app and the impostor each register; the AS believes both names.
        pages: dict[str, str] = {}
        for who, redirect, caller in (
            ("real", REAL_REDIRECT, "real-user-laptop"),
            ("impostor", IMPOSTOR_REDIRECT, ATTACKER_HOST),
        ):
            registered = (await register(lab, {**desktop, "redirect_uris": [redirect]}, caller=caller)).json()
            page = await open_authorization(lab, registered["client_id"], redirect)
            pages[f"dcr {who}"] = _identity(page)
        # CIMD: the real app hosts its document; the impostor can only host one on its own domain.
        real_host.publish(
            "/desktop/client.json", {**desktop, "client_id": REAL_DOCUMENT_URL, "redirect_uris": [REAL_REDIRECT]}
        )
        lab.metadata_hosts[ATTACKER_HOST].publish(
            "/claude-desktop.json",
            {**desktop, "client_id": IMPOSTOR_DOCUMENT_URL, "redirect_uris": [IMPOSTOR_REDIRECT]},
        )
        pages["cimd real"] = _identity(await open_authorization(lab, REAL_DOCUMENT_URL, REAL_REDIRECT))
        pages["cimd impostor"] = _identity(await open_authorization(lab, IMPOSTOR_DOCUMENT_URL, IMPOSTOR_REDIRECT))
        exchanges = tuple(lab.trace)
    dcr_alike = pages["dcr real"] == pages["dcr impostor"]
    cimd_alike = pages["cimd real"] == pages["cimd impostor"]
    outcome = f"dcr {'indistinguishable' if dcr_alike else 'distinguishable'}; cimd {'indistinguishable' if cimd_alike else 'impostor exposed'}"
    return ExperimentResult(
        experiment="impersonation",
        policy=policy.name,
        outcome=outcome,
        summary=(
            "DCR consent for the real app and the impostor reads the same"
            + (
                "; so does CIMD consent, because this AS hides hostnames."
                if cimd_alike
                else f"; CIMD consent names {ATTACKER_HOST} for the impostor."
            )
        ),
        explanation=(
            "Registration lets anyone claim any name, and a desktop app's redirect is a loopback port that any "
            "program can open: nothing on a DCR consent page tells the two apart. With CIMD the client_id is a URL, "
            "so the page can name the host that vouches for the client; the impostor can copy the name and logo "
            "but not the real vendor's domain. That only helps if the AS shows the hostname."
        ),
        spec=("RFC 7591 §2", "CIMD -02 §8.5", "MCP §11.6.2", "RFC 8252 §7.3"),
        exchanges=exchanges,
        details={"consent_identity": pages},
    )


def _identity(page: object) -> str:
    if isinstance(page, ConsentPage) and page.is_consent:
        return what_the_user_sees(page)
    return f"(no consent page: {refusal(page)})"  # type: ignore[arg-type]
