"""Step 4: get a client_id, by MCP §5's priority: pre-registered → CIMD → DCR (RFC 7591)."""

from __future__ import annotations

from typing import Any

from .base import ClientBase, StepRun
from .records import StepRecord
from .state import Credentials


def token_endpoint_auth_method(as_metadata: dict[str, Any], *, public: bool) -> str:
    """The method to use at the token endpoint, among those the AS supports. RFC 8414 §2: an
    absent list means client_secret_basic only. A public client prefers none when offered."""
    supported = as_metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    preferences = ["none", "client_secret_basic", "client_secret_post"] if public else ["client_secret_basic", "client_secret_post"]
    return next((m for m in preferences if m in supported), supported[0])



class RegistrationStep(ClientBase):
    # Step 4 ----------------------------------------------------------------------------------

    async def get_client_id(self) -> StepRecord:
        with self._step(4) as step:
            metadata = self._require(self.state.as_metadata, step, "AS metadata")
            method = self._choose_registration(metadata, step)
            if method == "preregistered":
                credentials = self.preregistered[self.state.issuer or ""]
                if credentials.client_secret and credentials.token_endpoint_auth_method == "none":
                    credentials.token_endpoint_auth_method = token_endpoint_auth_method(metadata, public=False)
                self.state.credentials = credentials
                step.explanation = "This client was registered with this AS out of band; it uses those credentials (MCP §5.2)."
            elif method == "cimd":
                self.state.credentials = Credentials(self.client_metadata_url or "")
                step.explanation = (
                    "The AS supports Client ID Metadata Documents, so the client_id is simply the URL of the "
                    "client's own JSON document. No request is made now: the AS will fetch the document when the "
                    "authorization request arrives."
                )
            else:
                self.state.credentials = await self._register(metadata, step)
                step.explanation = (
                    "The client registers itself with POST /register (RFC 7591) and the AS mints an opaque "
                    "client_id. The AS keeps a record; the client must store the id for this AS."
                )
            self.state.registration_method = method
            step.learned.update(method=method, client_id=self.state.credentials.client_id)
        return self.records[-1]

    def _choose_registration(self, metadata: dict[str, Any], step: StepRun) -> str:
        has = {
            "preregistered": self.state.issuer in self.preregistered,
            "cimd": metadata.get("client_id_metadata_document_supported") is True and bool(self.client_metadata_url),
            "dcr": isinstance(metadata.get("registration_endpoint"), str),
        }
        if self.method != "auto":
            if not has[self.method]:
                raise step.fail(f"registration method {self.method!r} is not available with this AS")
            return self.method
        for method in ("preregistered", "cimd", "dcr"):  # MCP §5's priority order
            if has[method]:
                step.notes.append(f"chose {method} by the MCP §5 priority: pre-registered → CIMD → DCR")
                return method
        raise step.fail("no way to get a client_id: not pre-registered, no CIMD support, no registration_endpoint")

    async def _register(self, metadata: dict[str, Any], step: StepRun) -> Credentials:
        body = {k: v for k, v in self.client_metadata.items() if k != "client_id"}
        body["token_endpoint_auth_method"] = token_endpoint_auth_method(metadata, public=True)
        response = await self.http.post(metadata["registration_endpoint"], json=body)
        if response.status_code != 201:
            error = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            raise step.fail(f"registration refused ({response.status_code} {error.get('error')}: {error.get('error_description')})")
        registered = response.json()
        step.learned.update(registration=registered)
        return Credentials(
            registered["client_id"], registered.get("client_secret"), registered.get("token_endpoint_auth_method", "client_secret_basic")
        )
