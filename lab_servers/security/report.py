"""Views of the experiments' results for notebook 05: tables, and the sprawl chart as plain SVG
drawn by our own code (no plotting library: the output is deterministic text, compared strictly).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..arguments import wrong_type
from ..authorization_server import ASPolicy
from ..views._html import INK, PAPER_UNDER_DRAWING, HtmlView, drawing_name, esc, shorten, table
from .results import ExperimentResult
from .sprawl import SprawlPoint


@dataclass(eq=False, repr=False)
class PolicyTable(HtmlView):
    """The rules on which the policies differ, one row per `ASPolicy` field."""

    policies: tuple[ASPolicy, ...]

    def rows(self) -> list[tuple[str, list[str]]]:
        names = [f.name for f in fields(ASPolicy) if f.name != "name"]
        values = [(name, [repr(getattr(p, name)) for p in self.policies]) for name in names]
        return [(name, row) for name, row in values if len(set(row)) > 1]

    def _body(self) -> str:
        rows = [
            [f"<td><code>{esc(name)}</code></td>", *(f'<td class="v">{esc(v)}</td>' for v in row)]
            for name, row in self.rows()
        ]
        return "<h4>Where the policies differ</h4>" + table(
            ["rule (ASPolicy field)", *(p.name for p in self.policies)], rows
        )

    def _summary(self) -> str:
        return f"{len(self.rows())} rules differ between {', '.join(p.name for p in self.policies)}"


def policy_table(*policies: ASPolicy) -> PolicyTable:
    for policy in policies:
        if not isinstance(policy, ASPolicy):
            raise wrong_type("policy_table takes policies, such as policy_table(NAIVE, HARDENED)", policy)
    return PolicyTable(policies)


@dataclass(eq=False, repr=False)
class ResultsTable(HtmlView):
    results: tuple[ExperimentResult, ...]

    def _body(self) -> str:
        rows = [
            [
                f"<td>{esc(r.experiment)}</td>",
                f"<td>{esc(r.policy)}</td>",
                f"<td><b>{esc(r.outcome)}</b></td>",
                f"<td>{esc(r.summary)}</td>",
            ]
            for r in self.results
        ]
        specs = sorted({s for r in self.results for s in r.spec})
        return (
            table(["experiment", "policy", "outcome", "what happened"], rows)
            + f'<p class="spec">{esc(" · ".join(specs))}</p>'
        )

    def _summary(self) -> str:
        return "; ".join(f"{r.policy}: {r.outcome}" for r in self.results)

    def __repr__(self) -> str:
        # nbval compares text/plain: give the whole verdict, one line per result.
        return "\n".join(str(r) for r in self.results)


def results_table(*results: ExperimentResult) -> ResultsTable:
    return ResultsTable(_results("results_table", results, "results_table(await run_ssrf_via_registration(NAIVE))"))


@dataclass(eq=False, repr=False)
class RulesTable(HtmlView):
    """The CIMD rules table: each hostile input, and what each policy did with it."""

    naive: ExperimentResult
    hardened: ExperimentResult

    def _body(self) -> str:
        rows = []
        for n, h in zip(self.naive.details["rows"], self.hardened.details["rows"], strict=True):
            reached = _inside_mark(n["internal_requests"], n["internal_answered"])
            rows.append([
                f"<td><code>{esc(h['case'])}</code></td>",
                f"<td>{esc(h['rule'])}</td>",
                f"<td>{esc(n['outcome'])}{esc(reached)}</td>",
                f"<td><b>{esc(h['outcome'])}</b>" + (f'<br><span class="dim">{esc(_rule_text(h["error_description"]))}</span>' if h["error_description"] else "") + "</td>",
            ])  # fmt: skip
        return table(["case", "rule", self.naive.policy, self.hardened.policy], rows)

    def _summary(self) -> str:
        return f"{self.naive.policy}: {self.naive.summary} {self.hardened.policy}: {self.hardened.summary}"


def _inside_mark(attempted: int, answered: int) -> str:
    """What the AS did inside its own network for one row: an attempt counts even where nothing
    listened (CIMD -02 §8.6 forbids sending it); a hardened refusal comes before any connection."""
    if not attempted:
        return ""
    unanswered = attempted - answered
    marks = [f"fetched inside the network ×{answered}"] if answered else []
    marks += [f"attempted inside the network ×{unanswered} (nothing listened)"] if unanswered else []
    return " · " + " · ".join(marks)


def _rule_text(description: str) -> str:
    return shorten(description.removeprefix("client metadata document rejected: "), 150)


def rules_table(naive: ExperimentResult, hardened: ExperimentResult) -> RulesTable:
    return RulesTable(
        *_results(
            "rules_table",
            (naive, hardened),
            "rules_table(await run_cimd_rules(NAIVE), await run_cimd_rules(HARDENED))",
            "rows",
        )
    )


# The sprawl chart -----------------------------------------------------------------------------

_COLOURS = {"dcr_records": "#bc4c00", "cimd_cached": "#0969da", "cimd_records": "#1a7f37"}
_LABELS = {"dcr_records": "DCR records", "cimd_cached": "CIMD cached documents", "cimd_records": "CIMD records"}


@dataclass(eq=False, repr=False)
class SprawlChart:
    """Grouped bars, one panel per policy: what the AS holds as clients arrive."""

    results: tuple[ExperimentResult, ...]

    def _panel(self, result: ExperimentResult, x0: int, width: int, height: int, top: float) -> str:
        points: list[SprawlPoint] = result.details["points"]
        plot_h, base = height - 70, height - 40
        slot = (width - 50) / len(points)
        bar = max(2.0, slot / 4)
        parts = [
            f'<text x="{x0 + width / 2:.0f}" y="16" text-anchor="middle" font-weight="600">{esc(result.policy)} policy</text>'
        ]
        parts.append(f'<line x1="{x0 + 40}" y1="{base}" x2="{x0 + width - 5}" y2="{base}" stroke="#59636e"/>')
        for tick in (0, top / 2, top):
            y = base - plot_h * tick / top
            parts.append(f'<text x="{x0 + 36}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{tick:,.0f}</text>')
            parts.append(
                f'<line x1="{x0 + 40}" y1="{y:.1f}" x2="{x0 + width - 5}" y2="{y:.1f}" stroke="#d0d7de" stroke-dasharray="2,3"/>'
            )
        for i, point in enumerate(points):
            left = x0 + 45 + i * slot
            for j, key in enumerate(_COLOURS):
                value = getattr(point, key)
                h = plot_h * value / top
                parts.append(
                    f'<rect x="{left + j * bar:.1f}" y="{base - h:.1f}" width="{bar - 1:.1f}" height="{max(h, 0.8):.1f}" fill="{_COLOURS[key]}">'
                    f"<title>{esc(_LABELS[key])} after {point.clients:,} clients: {value:,}</title></rect>"
                )
            if i % max(1, len(points) // 6) == 0 or i == len(points) - 1:
                parts.append(
                    f'<text x="{left + 1.5 * bar:.1f}" y="{base + 14}" text-anchor="middle" font-size="10">{point.clients:,}</text>'
                )
        x_label = result.details.get("x_label", "clients that came by")
        parts.append(
            f'<text x="{x0 + width / 2:.0f}" y="{base + 30}" text-anchor="middle" font-size="11">{esc(x_label)}</text>'
        )
        return "".join(parts)

    def _repr_svg_(self) -> str:
        width, height = 380, 250
        top = max(max(p.dcr_records, p.cimd_cached) for r in self.results for p in r.details["points"]) or 1
        panels = "".join(self._panel(r, i * width, width, height, top) for i, r in enumerate(self.results))
        legend = "".join(
            f'<rect x="{10 + k * 190}" y="{height + 2}" width="10" height="10" fill="{c}"/>'
            f'<text x="{24 + k * 190}" y="{height + 11}" font-size="11">{esc(_LABELS[key])}</text>'
            for k, (key, c) in enumerate(_COLOURS.items())
        )
        total_w = width * len(self.results)
        # Dark text and grid lines on the views' paper, painted here: JupyterLab shows an SVG output
        # on the page's own background, near-black in its dark theme.
        # WCAG 1.1.1: one image, named by what its bars say (the text view's numbers).
        name, title = drawing_name(
            "Bar chart of what the AS holds as clients arrive. " + "; ".join(repr(self).splitlines())
        )
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height + 20}" viewBox="0 0 {total_w} {height + 20}" '
            f'font-family="system-ui,sans-serif" font-size="12" fill="{INK}"{name}>{title}'
            f"{PAPER_UNDER_DRAWING}{panels}{legend}</svg>"
        )

    def __repr__(self) -> str:
        lines = []
        for r in self.results:
            last: SprawlPoint = r.details["points"][-1]
            lines.append(
                f"{r.policy}: after {last.clients:,} {r.details.get('unit', 'clients')}, DCR records {last.dcr_records:,} (refused {last.dcr_refused:,}); "
                f"CIMD records {last.cimd_records}, cached documents {last.cimd_cached:,}"
            )
        return "\n".join(lines)


def sprawl_chart(*results: ExperimentResult) -> SprawlChart:
    if not results:
        raise TypeError("sprawl_chart takes one result or more, such as sprawl_chart(*sprawl); got none")
    return SprawlChart(_results("sprawl_chart", results, "sprawl_chart(await run_client_id_sprawl(NAIVE))", "points"))


def _results(
    view: str, results: tuple[object, ...], example: str, needs: str | None = None
) -> tuple[ExperimentResult, ...]:
    """The views' arguments, checked where a notebook cell passes them: an experiment's result
    (an un-awaited run is a coroutine, and `described` says so), with the details the view draws."""
    checked = []
    for result in results:
        if not isinstance(result, ExperimentResult):
            raise wrong_type(f"{view} takes experiment results, such as {example}", result)
        if needs is not None and needs not in result.details:
            raise ValueError(f"{view} draws other experiments' results, such as {example}; got {result.experiment}'s")
        checked.append(result)
    return tuple(checked)
