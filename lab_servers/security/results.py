"""What an experiment hands back: its verdict, the exchanges that produced it, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..trace import Exchange


@dataclass(frozen=True)
class ExperimentResult:
    experiment: str  # e.g. "ssrf-via-registration"
    policy: str  # the ASPolicy's name
    outcome: str  # a short verdict the tests assert, e.g. "leaked" or "refused"
    summary: str  # one plain sentence: what happened this time
    explanation: str  # why, in plain language, with the spec sections
    spec: tuple[str, ...] = ()
    exchanges: tuple[Exchange, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"[{self.experiment} · {self.policy}] {self.outcome}: {self.summary}"

    def _repr_markdown_(self) -> str:
        sections = ", ".join(self.spec)
        return (
            f"**{self.experiment}** under the **{self.policy}** policy → **{self.outcome}**\n\n"
            f"{self.summary}\n\n> {self.explanation}\n\n*Spec: {sections}* · {len(self.exchanges)} exchanges"
        )


def oauth_error_of(exchange: Exchange) -> tuple[str, str] | None:
    """(error, error_description) of a JSON OAuth error response, else None."""
    body = exchange.json()
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"], str(body.get("error_description", ""))
    return None
