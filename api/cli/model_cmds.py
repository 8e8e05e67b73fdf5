"""``semsearch model prepare|info``, ``embed`` and ``similarity``."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table
from rich.text import Text

from search import bundled
from search.bands import BAND_LABELS
from search.profiles import BUNDLED_MODEL, resolve_model

from .common import console, load_encoder, out, print_json, settings

model_app = typer.Typer(help="Prepare and inspect the embedding model.", no_args_is_help=True)


@model_app.command("prepare")
def prepare(force: Annotated[bool, typer.Option(help="Rebuild even if prepared.")] = False) -> None:
    """Prepare the configured model (reconstructs the bundled one; idempotent)."""
    s = settings()
    resolved = resolve_model(s)
    if resolved.profile.name == BUNDLED_MODEL:
        path = bundled.prepare(Path(resolved.source), force=force, progress=True)
        console.print(f"bundled model ready at {path}")
        return
    load_encoder()  # a hub id is fetched into the transformers cache when online
    console.print(f"model {resolved.source} loads")


@model_app.command("info")
def info(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the model profile, device, precision and band thresholds."""
    encoder = load_encoder()
    p = encoder.profile
    payload = {
        "model": p.name, "source": encoder.resolved.source, "dimension": encoder.dim,
        "pooling": p.pooling, "max_length": p.max_length, "query_prefix": p.query_prefix,
        "passage_prefix": p.passage_prefix, "traditional_to_simplified": p.traditional_to_simplified,
        "device": encoder.device, "precision": encoder.precision,
        "thresholds": p.thresholds.as_dict(), "calibrated": p.calibrated,
    }
    if as_json:
        print_json(payload)
        return
    for key, value in payload.items():
        typer.echo(f"{key:26} {value}")


def _checked_texts(texts: list[str], what: str) -> list[str]:
    """Refuse empty texts before the model loads (it takes seconds)."""
    from search.encoder import validate_texts
    from search.errors import InvalidInputError
    from search.text import normalize

    validate_texts(texts)
    t2s = resolve_model(settings()).profile.traditional_to_simplified
    for i, text in enumerate(texts):
        if not normalize(text, traditional_to_simplified=t2s):
            raise InvalidInputError(f"{what} #{i} is empty once invisible and control "
                                    "characters are removed")
    return texts


def embed(
    texts: Annotated[list[str], typer.Argument(help="Texts to embed.")],
    kind: Annotated[str, typer.Option(
        help="query, question (a stored question) or passage (sets the model's prefix).")] = "query",
    as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON object per text, with its token count and truncation.")] = False,
) -> None:
    """Print one JSON array (the L2-normalised vector) per text, one per line."""
    if kind not in ("query", "question", "passage"):
        raise typer.BadParameter("--kind must be query, question or passage")
    _checked_texts(texts, "text")
    encoder = load_encoder()
    result = encoder.encode(texts, kind)  # type: ignore[arg-type]  # one of Kind's: checked above
    for i, vector in enumerate(result.vectors):
        values = [round(float(x), 7) for x in vector]
        line = values if not as_json else {
            "index": i, "model": encoder.model_id, "kind": kind, "dimension": encoder.dim,
            "tokens": result.token_counts[i], "truncated": result.truncated[i],
            "embedding": values}
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")


def similarity(
    source: Annotated[str, typer.Argument(help="The source sentence.")],
    candidates: Annotated[list[str], typer.Argument(help="Candidate sentences.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Cosine similarity of SOURCE to each CANDIDATE, with bands."""
    _checked_texts([source], "source")
    _checked_texts(candidates, "candidate")
    encoder = load_encoder()
    # as a search scores them: the source as a query, candidates as stored questions
    scores = encoder.encode(candidates, "question").vectors @ encoder.encode_queries([source])[0]
    thresholds = encoder.profile.thresholds
    rows = [{"candidate": c, "score": float(s), "band": thresholds.band(float(s))}
            for c, s in zip(candidates, np.asarray(scores))]
    if as_json:
        print_json({"source": source, "thresholds": thresholds.as_dict(), "results": rows})
        return
    table = Table("candidate", "score", "band")
    for row in rows:
        table.add_row(Text(row["candidate"]), f"{row['score']:.4f}",
                      f"{row['band']} {BAND_LABELS[row['band']]}")
    out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
    app.command("embed")(embed)
    app.command("similarity")(similarity)
