"""Views of the lab: every one reads the trace or the servers' state and renders it, never
keeping protocol state of its own. Each returns an object that displays itself in a notebook
(deterministic HTML, SVG or Markdown, and a short text/plain that nbval can compare).

    from lab_servers.views import sequence_diagram, show_exchange, show_step, show_token
    sequence_diagram(lab.trace)          # Mermaid live in JupyterLab, pre-rendered SVG elsewhere
    show_exchange(lab.trace.exchanges[0])
    show_step(conn.records[4])
    show_token(conn.access_token)
"""

from .as_state import ASStateView, show_as_state
from .compare import IdentityComparison, compare_identities
from .consent import ConsentView, show_consent
from .raw_http import RawHTTP, show_exchange
from .sequence import SequenceDiagram, sequence_diagram
from .step import StepView, show_step
from .token import TokenView, show_token

__all__ = [
    "ASStateView", "ConsentView", "IdentityComparison", "RawHTTP", "SequenceDiagram", "StepView", "TokenView",
    "compare_identities", "sequence_diagram", "show_as_state", "show_consent", "show_exchange", "show_step",
    "show_token",
]  # fmt: skip
