"""What an experiment hands back: its verdict, the exchanges that produced it, and why."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from ..trace import Exchange, plural


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
        # The summary may quote a server (an AS's error_description repeating a hostile document's
        # client_id): as Markdown text, never as markup or a link Markdown would make of it.
        sections = ", ".join(self.spec)
        return (
            f"**{self.experiment}** under the **{self.policy}** policy → **{self.outcome}**\n\n"
            f"{_markdown_text(self.summary)}\n\n> {_markdown_text(self.explanation)}\n\n"
            f"*Spec: {_markdown_text(sections)}* · {plural(len(self.exchanges), 'exchange')}"
        )


def _markdown_text(text: str) -> str:
    """`text` shown as itself in Markdown: HTML escaped, Markdown's punctuation backslash-escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+!|~>-])", r"\\\1", html.escape(text, quote=False))


def oauth_error_of(exchange: Exchange) -> tuple[str, str] | None:
    """(error, error_description) of a JSON OAuth error response, else None."""
    body = exchange.json()
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"], str(body.get("error_description", ""))
    return None
