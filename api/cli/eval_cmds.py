"""``semsearch eval pairs``: score labelled pairs and report separation metrics."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from search.evaluation import load_pairs, pair_metrics

from .common import console, load_encoder, print_json

eval_app = typer.Typer(help="Measure model and retrieval quality.", no_args_is_help=True)


def score_pairs(encoder, a: list[str], b: list[str]) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Cosine of each pair; both sides use the query prefix, as C-MTEB does."""
    unique = list(dict.fromkeys(a + b))
    with console.status(f"encoding {len(unique)} sentences…"):
        vectors = encoder.encode_queries(unique)
    row = {text: i for i, text in enumerate(unique)}
    va = vectors[[row[t] for t in a]]
    vb = vectors[[row[t] for t in b]]
    return np.sum(va * vb, axis=1)


@eval_app.command("pairs")
def pairs(
    file: Annotated[Path, typer.Argument(help='JSONL with {"a", "b", "label"} per line.')],
    limit: Annotated[int | None, typer.Option(help="Only the first N pairs.", min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Cosine Spearman x100, ROC-AUC, accuracy-best threshold and score means."""
    data = load_pairs(file, limit)
    encoder = load_encoder()
    metrics = pair_metrics(score_pairs(encoder, data.a, data.b), data.labels)
    metrics["model"] = encoder.model_id
    metrics["precision"] = encoder.precision
    if as_json:
        print_json(metrics)
        return
    for key, value in metrics.items():
        typer.echo(f"{key:16} {value:.4f}" if isinstance(value, float) else f"{key:16} {value}")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
