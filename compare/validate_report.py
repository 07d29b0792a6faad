"""The validation report: Markdown and a self-contained HTML page with pictures (the
backend failure rate over polls per agent variant, the counterexamples' interleavings,
openFlows occupancy under stress), written next to the evidence."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .validation import Validation

VERDICT_COLOURS = {"correct": "#2e7d32", "masked": "#ef6c00", "wrong": "#c62828",
                   "unsafe": "#6a1b9a"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _short(driver: str, proposal: str) -> str:
    return "proposal" if driver == proposal else Path(driver).stem if "/" in driver else driver


#: how each driver's line is drawn: overlapping lines stay distinguishable (marker, dash
#: and a small sideways offset each)
_LINE_STYLES = (("o", "-", -0.08), ("s", "--", 0.0), ("^", ":", 0.08), ("D", "-.", 0.12))


def agent_order(names: list[str]) -> list[str]:
    """Agent variants in the CLI's order (the registry's), then any others as given."""
    from agent_model._variants import AGENT_VARIANTS

    known = [a for a in AGENT_VARIANTS if a in names]
    return known + [a for a in names if a not in known]


def plot_rates(v: Validation, out: Path) -> list[Path]:
    """Backend failure rate after every poll: one row of panels per scenario (each on the
    interleaving where the shipped driver first went wrong, every driver on the same
    one), one panel per agent variant in the CLI's order; the ground truth drawn, y from
    0, tick labels on every panel, overlapping lines told apart by marker, dash and a
    small sideways offset."""
    panels = v.rate_panels or ([v.rates] if v.rates.get("series") else [])
    panels = [p for p in panels if p.get("series")]
    if not panels:
        return []
    plt = _plt()
    agents = agent_order(list(next(iter(panels[0]["series"].values()))))
    fig, grid = plt.subplots(len(panels), len(agents), figsize=(4.2 * len(agents),
                                                                 2.9 * len(panels) + 0.6),
                             squeeze=False)
    for row, panel in zip(grid, panels, strict=True):
        series, truth = panel["series"], panel.get("truth")
        top = max([truth or 0.0] + [r or 0.0 for by in series.values() for rs in by.values()
                                    for r in rs])
        n = max(len(rs) for by in series.values() for rs in by.values())
        for ax, agent in zip(row, agents, strict=True):
            for k, (driver, by_agent) in enumerate(series.items()):
                # no close reported yet: no rate (a gap), not 0 %
                rates = [r if r is not None else float("nan") for r in by_agent[agent]]
                marker, dash, dx = _LINE_STYLES[k % len(_LINE_STYLES)]
                ax.plot([i + dx for i in range(len(rates))], rates, marker=marker,
                        linestyle=dash, markersize=6 - k, label=_short(driver, v.proposal),
                        alpha=0.9)
            if truth is not None:
                ax.axhline(truth, color="black", linewidth=1.2, linestyle=(0, (4, 2)),
                           label="ground truth", zorder=0)
            ax.set_xticks(range(n), [f"poll {i}" if i < n - 1 else "final"
                                     for i in range(n)], fontsize=7)
            ax.set_ylim(0, top * 1.12 + 1)
            ax.tick_params(labelleft=True, labelsize=7)  # every panel keeps its labels
            ax.set_title(f"{panel['scenario']} — agent: {agent}", fontsize=9)
            ax.set_ylabel("failure rate (%)", fontsize=8)
            ax.grid(alpha=0.3)
    grid[0][0].legend(fontsize=7)
    fig.suptitle("backend TCP failure rate over polls: per scenario, every driver on the same "
                 "interleaving (where the shipped driver first went wrong)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.9 * len(panels) + 0.6)))
    paths = [out / "rates.png", out / "rates.svg"]
    for p in paths:
        fig.savefig(p, dpi=100)
    plt.close(fig)
    return paths


def plot_occupancy(v: Validation, out: Path) -> list[Path]:
    """openFlows occupancy over time on real threads: the proposal beside original."""
    if not v.stress:
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for name, doc in v.stress.items():
        pts = doc.get("occupancy") or []
        ax.plot([p["t"] for p in pts], [p["open"] for p in pts], label=name)
    ax.set_xlabel("seconds")
    ax.set_ylabel("flows in openFlows")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("stress: openFlows occupancy", fontsize=10)
    fig.tight_layout()
    paths = [out / "occupancy.png", out / "occupancy.svg"]
    for p in paths:
        fig.savefig(p, dpi=110)
    plt.close(fig)
    return paths


def _rel(path: str | Path, out: Path) -> str:
    return os.path.relpath(path, out)


def _matrix_rows(v: Validation) -> list[tuple[str, str, dict[str, dict[str, Any]]]]:
    rows: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for cell in v.cells:
        rows.setdefault((cell["scenario"], cell["driver"]), {})[cell["agent"]] = cell
    return [(s, d, agents) for (s, d), agents in rows.items()]


def markdown(v: Validation) -> str:
    out = Path(v.out)
    lines = [f"# flowrace validate: {Path(v.proposal).name}", "",
             f"**Verdict: {v.verdict}** ({v.seconds:.1f} s)", ""]
    if v.cut_short:
        lines += ["## Cut short by the time budget", "",
                  *[f"* {why}" for why in v.cut_short], ""]
    if v.reasons:
        lines += ["## Reasons", ""]
        for r in v.reasons:
            where = f" on `{r.scenario}`" if r.scenario else ""
            lines.append(f"* **{r.kind}** ({r.phase}{where}): {r.detail}")
            if r.trace:
                lines.append(f"  counterexample: `{_rel(r.trace, out)}` — `{r.replay}`")
        lines.append("")
    if v.missing:
        lines += ["## Not proven (nothing found, but the search did not finish)", ""]
        for m in v.missing:
            where = f" on `{m.scenario}`" if m.scenario else ""
            lines.append(f"* **{m.phase}**{where}: {m.detail}")
            lines.append(f"  finish it: `{m.command}`")
        lines.append("")
    lines += ["## Phases", "", "| phase | seconds | result |", "|---|---:|---|"]
    lines += [f"| {p.name} | {p.seconds:.1f} | {p.summary} |" for p in v.phases]
    if v.cells:
        agents = agent_order(list(dict.fromkeys(c["agent"] for c in v.cells)))
        lines += ["", "## Comparison on identical interleavings", "",
                  "| scenario | driver | " + " | ".join(agents) + " |",
                  "|---|---|" + "---|" * len(agents)]
        for scenario, driver, cells in _matrix_rows(v):
            verdicts = [cells[a]["verdict"] + (" (agent)" if cells[a].get("cause") == "agent"
                                               else "") if a in cells else "" for a in agents]
            lines.append(f"| {scenario} | {_short(driver, Path(v.proposal).name)} | "
                         + " | ".join(verdicts) + " |")
        if any(c.get("cause") == "agent" for c in v.cells):
            lines += ["", "`wrong (agent)`: the backend differs from the truth although the "
                      "driver delivered every close exactly once — the agent before the "
                      "workaround (`prefix`) double-counts a failure with any driver; not "
                      "the proposal's fault."]
    if v.stress:
        lines += ["", "## Stress (real threads)", "",
                  "| driver | connections | lingering | dropped (table full) | ops/s |",
                  "|---|---:|---:|---:|---:|"]
        for name, doc in v.stress.items():
            lines.append(f"| {name} | {doc['connections']} | {doc['lingering']} | "
                         f"{doc['dropped_table_full']} | {doc['ops_per_second']:,} |")
    return "\n".join(lines) + "\n"


CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
.verdict { font-size: 2em; font-weight: bold; padding: .3em .8em; border-radius: 6px;
           display: inline-block; color: white; }
.PASS { background: #2e7d32; } .FAIL { background: #c62828; }
.INCONCLUSIVE { background: #b26a00; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
td, th { border: 1px solid #ccc; padding: .3em .6em; text-align: left; }
th { background: #f4f4f4; }
.cell { color: white; font-weight: bold; }
details { margin: .8em 0; } summary { cursor: pointer; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: .75em; }
img { max-width: 100%; border: 1px solid #eee; }
.reason { margin: 1em 0 2em; }
code { background: #f1f1f1; padding: 0 .2em; }
"""


def html_page(v: Validation, images: dict[str, list[Path]]) -> str:
    out = Path(v.out)
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>flowrace validate: "
             f"{esc(Path(v.proposal).name)}</title><style>{CSS}</style></head><body>",
             f"<h1>flowrace validate: <code>{esc(Path(v.proposal).name)}</code></h1>",
             f"<div class='verdict {v.verdict}'>{v.verdict}</div>",
             f"<p>{len(v.reasons)} reason(s), {len(v.missing)} unfinished search(es); "
             f"{v.seconds:.1f} s. "
             f"Evidence in <code>{esc(str(out))}</code>.</p>"]
    if v.cut_short:
        parts.append("<p>Cut short by the time budget:</p><ul>"
                     + "".join(f"<li>{esc(why)}</li>" for why in v.cut_short) + "</ul>")
    if v.reasons:
        parts.append("<h2>Reasons</h2><table><tr><th>finding</th><th>phase</th>"
                     "<th>scenario</th><th>what happened</th><th>counterexample</th></tr>")
        for i, r in enumerate(v.reasons):
            link = (f"<a href='#cex{i}'>interleaving</a> · <a href='{esc(_rel(r.trace, out))}'>"
                    f"trace</a>") if r.trace else ""
            parts.append(f"<tr><td><b>{esc(r.kind)}</b></td><td>{esc(r.phase)}</td>"
                         f"<td>{esc(r.scenario or '')}</td><td>{esc(r.detail)}</td>"
                         f"<td>{link}</td></tr>")
        parts.append("</table>")
    if v.missing:
        parts.append("<h2>Not proven</h2><p>Nothing was found here, but the search did not "
                     "finish: the verdict cannot be PASS until it does.</p><table><tr>"
                     "<th>phase</th><th>scenario</th><th>how far it got</th>"
                     "<th>finish it with</th></tr>")
        for m in v.missing:
            parts.append(f"<tr><td>{esc(m.phase)}</td><td>{esc(m.scenario or '')}</td>"
                         f"<td>{esc(m.detail)}</td><td><code>{esc(m.command)}</code></td></tr>")
        parts.append("</table>")
    parts += ["<h2>Phases</h2><table><tr><th>phase</th><th>seconds</th><th>result</th></tr>"]
    parts += [f"<tr><td>{esc(p.name)}</td><td>{p.seconds:.1f}</td><td>{esc(p.summary)}</td></tr>"
              for p in v.phases]
    parts.append("</table>")
    if images.get("rates"):
        parts += ["<h2>Backend failure rate over polls, per scenario and agent variant</h2>",
                  f"<img alt='failure rate over polls' src='{esc(images['rates'][0].name)}'>"]
    if v.cells:
        agents = agent_order(list(dict.fromkeys(c["agent"] for c in v.cells)))
        agent_fault = any(c.get("cause") == "agent" for c in v.cells)
        parts += ["<h2>Comparison on identical interleavings</h2>",
                  "<p>The proposal beside <code>original</code> and the best built-in fix; a "
                  "cell is the worst verdict over every interleaving and sweep seed.</p>",
                  *(["<p><b>wrong (agent)</b>: the backend figures differ from the truth "
                     "although the driver delivered every close exactly once — the agent "
                     "before the workaround (<code>prefix</code>) double-counts a failure "
                     "with <i>any</i> driver; it is not the proposal's fault and does not "
                     "fail it.</p>"] if agent_fault else []),
                  "<table><tr><th>scenario</th><th>driver</th>"
                  + "".join(f"<th>{esc(a)}</th>" for a in agents) + "</tr>"]
        for scenario, driver, cells in _matrix_rows(v):
            name = _short(driver, Path(v.proposal).name)
            row = f"<tr><td>{esc(scenario)}</td><td>{esc(name)}</td>"
            for a in agents:
                c = cells.get(a)
                if c is None:
                    row += "<td></td>"
                    continue
                label = c["verdict"] + (" (agent)" if c.get("cause") == "agent" else "")
                colour = VERDICT_COLOURS.get(c["verdict"], "#555")
                row += (f"<td class='cell' style='background:{colour}' "
                        f"title='{esc(c.get('reason', ''))}'>{esc(label)}</td>")
            parts.append(row + "</tr>")
        parts.append("</table>")
    if v.stress:
        parts += ["<h2>Stress on real threads</h2><table><tr><th>driver</th><th>connections"
                  "</th><th>lingering</th><th>dropped (table full)</th><th>peak open</th>"
                  "<th>seconds</th><th>ops/s</th></tr>"]
        for name, doc in v.stress.items():
            parts.append(f"<tr><td>{esc(name)}</td><td>{doc['connections']}</td>"
                         f"<td>{doc['lingering']}</td><td>{doc['dropped_table_full']}</td>"
                         f"<td>{doc['open_peak']}</td><td>{doc['seconds']}</td>"
                         f"<td>{doc['ops_per_second']:,}</td></tr>")
        parts.append("</table>")
        if images.get("occupancy"):
            parts.append(f"<img alt='openFlows occupancy' "
                         f"src='{esc(images['occupancy'][0].name)}'>")
    shown = [(i, r) for i, r in enumerate(v.reasons) if r.trace]
    if shown:
        parts.append("<h2>Counterexamples</h2><p>Each replays exactly with the command "
                     "shown; the picture draws one column per CPU and the happens-before "
                     "edges between their shared operations.</p>")
    for n, (i, r) in enumerate(shown):
        where = f" on {esc(r.scenario)}" if r.scenario else ""
        parts.append(f"<details id='cex{i}'{' open' if n == 0 else ''}><summary><b>"
                     f"{esc(r.kind)}</b> ({esc(r.phase)}{where})</summary>"
                     f"<p><code>{esc(r.replay or '')}</code></p>")
        if "png" in r.files:
            parts.append(f"<img alt='interleaving' src='{esc(_rel(r.files['png'], out))}'>")
        if "timeline" in r.files and Path(r.files["timeline"]).is_file():
            parts.append("<pre>" + esc(Path(r.files["timeline"]).read_text()[:20000]) + "</pre>")
        parts.append("</details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(v: Validation, out: Path) -> dict[str, str]:
    images = {"rates": plot_rates(v, out), "occupancy": plot_occupancy(v, out)}
    md = out / "report.md"
    md.write_text(markdown(v))
    page = out / "report.html"
    page.write_text(html_page(v, images))
    files = {"markdown": str(md), "html": str(page)}
    for name, paths in images.items():
        for p in paths:
            files[f"{name}_{p.suffix[1:]}"] = str(p)
    return files
