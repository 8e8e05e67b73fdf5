"""``semsearch insights``: what users asked a collection, and the questions it missed, grouped."""
from __future__ import annotations

import csv
import sys
from typing import Annotated

import typer
from rich.table import Table

from .common import collection_service, console, out, print_json


def insights(
    collection: Annotated[str | None, typer.Option(help="Collection name (default: settings).")] = None,
    since: Annotated[str | None, typer.Option(help="7d, 24h or an ISO date/time (UTC).")] = "7d",
    until: Annotated[str | None, typer.Option(help="Same forms; default: now.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the unanswered groups as CSV.")] = False,
) -> None:
    """Searches per day and band shares, the most-hit entries, and the unanswered
    questions grouped by meaning, with a suggestion per group."""
    from search import insights as found_insights

    window = found_insights.parse_time(since), found_insights.parse_time(until)
    name, service = collection_service(collection)
    with console.status("grouping the unanswered questions…"):
        result = found_insights.compute(service, name, *window)
    if as_json:
        print_json(result.as_json())
        return
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["group_id", "size", "representative", "suggestion", "entry_id",
                         "nearest_entry", "nearest_score", "nearest_band", "examples"])
        for g in result.groups:
            n = g.nearest
            writer.writerow([g.group_id, g.size, g.representative, g.suggestion, g.entry_id or "",
                             n.entry_id if n else "", f"{n.score:.4f}" if n else "",
                             n.band if n else "", " | ".join(g.examples)])
        return
    shares = " · ".join(f"{b} {v:.0%}" for b, v in result.band_share.items())
    console.print(f"{name}: {result.searches} searches ({shares})")
    days = Table("day", "searches", "high", "none", title="per day")
    for d in result.per_day:
        days.add_row(d["day"], str(d["searches"]), f"{d['band_share']['high']:.0%}",
                     f"{d['band_share']['none']:.0%}")
    out.print(days)
    groups = Table("group", "size", "representative question", "nearest entry", "suggestion",
                   title=f"unanswered groups ({len(result.groups)})")
    for g in result.groups[:30]:
        n = g.nearest
        groups.add_row(g.group_id, str(g.size), g.representative,
                       f"{n.entry_id} {n.score:.3f} {n.band}" if n else "-",
                       f"{g.suggestion} {g.entry_id}" if g.entry_id else g.suggestion)
    out.print(groups)


def register(app: typer.Typer) -> None:
    app.command("insights")(insights)
