"""``semsearch eval pairs``: score labelled pairs and report separation metrics."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer

from search.evaluation import load_pairs, pair_metrics

from .common import console, load_encoder, print_json, settings

if TYPE_CHECKING:
    from search.encoder import TextEncoder

eval_app = typer.Typer(help="Measure model and retrieval quality.", no_args_is_help=True)


def score_pairs(encoder: TextEncoder, a: list[str], b: list[str]) -> np.ndarray:
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


@eval_app.command("retrieval")
def retrieval(
    corpus: Annotated[Path, typer.Option(help='JSONL of {"id", "title", "text"} documents.')],
    queries: Annotated[Path, typer.Option(help='JSONL of {"query", "relevant_ids"}.')],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=100)] = 10,
    corpus_field: Annotated[str, typer.Option(
        "--field", help="Index each row's text as the standard 'question' (title = "
        "category) or as the 'answer' (title = question).")] = "question",
    mode: Annotated[list[str] | None, typer.Option(
        help="dense, lexical or hybrid; repeat to compare modes in one run "
             "[default: settings]")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N queries.", min=1)] = None,
    plot: Annotated[Path | None, typer.Option(help="Write score histograms (PNG).")] = None,
    cache: Annotated[Path | None, typer.Option(
        help="SQLite file keeping corpus embeddings between runs.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """recall@1/5/10, MRR@10, nDCG@10 and band metrics on a throw-away index."""
    from indexer.evaluate import evaluate_retrieval

    if corpus_field not in ("question", "answer"):
        raise typer.BadParameter("--field must be question or answer")
    modes = [m.strip() for item in (mode or [settings().retrieval_mode]) for m in item.split(",")]
    if not set(modes) <= {"dense", "lexical", "hybrid"}:
        raise typer.BadParameter("--mode must be dense, lexical or hybrid")
    encoder = load_encoder()
    with console.status("evaluating…") as status:
        runs = evaluate_retrieval(settings(), encoder, corpus, queries, top_k=top_k,
                                  corpus_field=corpus_field,  # type: ignore[arg-type]  # checked above
                                  variants=[{"retrieval_mode": m} for m in modes], limit=limit,
                                  cache=cache, status=status.update)
    results = {m: {**r.metrics, "model": encoder.model_id, "mode": m} for m, r in zip(modes, runs)}
    if plot:
        from indexer.plots import score_histograms

        score_histograms(runs[-1], encoder.profile.thresholds, plot,
                         title=f"{queries.parent.name}/{queries.stem} · {modes[-1]} · {encoder.model_id}")
        console.print(f"plot written to {plot}")
    if as_json:
        print_json(results[modes[0]] if len(modes) == 1 else results)
        return
    for m in modes:
        typer.echo(f"== mode {m}")
        _print_retrieval(results[m])


def _print_retrieval(metrics: dict) -> None:
    for key in ("recall_at_1", "recall_at_5", "recall_at_10", "mrr_at_10", "ndcg_at_10"):
        typer.echo(f"{key:14} {metrics[key]:.4f}")
    typer.echo(f"{'n_queries':14} {metrics['n_queries']}")
    typer.echo("band    share   precision(top-1 correct)")
    for band, share in metrics["band_share"].items():
        prec = metrics["band_precision"][band]
        typer.echo(f"{band:7} {share:6.3f}  {'-' if prec is None else f'{prec:.3f}'}")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
