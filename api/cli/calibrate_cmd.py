"""``semsearch calibrate``: band thresholds from a hit-test set, retrieval sets or labelled pairs."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from search.calibration import DEFAULT_TARGETS, calibrate as fit, search_scores
from search.errors import InvalidInputError
from search.evaluation import load_pairs
from search.profiles import save_thresholds

from .common import console, load_encoder, out, print_json, settings


def _targets(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError as exc:
        raise InvalidInputError(f"--targets must be three numbers like 0.95,0.80,0.50: {text}") from exc
    if len(values) != 3:
        raise InvalidInputError("--targets needs three precisions: high,medium,low")
    return values


def calibrate(
    collection: Annotated[str | None, typer.Option(
        help="Fit this collection's bands to the answers its hit-test set gets.")] = None,
    retrieval: Annotated[list[Path] | None, typer.Option(
        help="Or fit the model's prior to the first answers of searches over retrieval "
             "sets: folders with corpus.jsonl and queries.jsonl; repeatable.")] = None,
    pairs: Annotated[list[Path] | None, typer.Option(
        help='Or fit the model\'s pair thresholds: JSONL {"a", "b", "label"} (1 = same '
             "intent); repeatable.")] = None,
    targets: Annotated[str, typer.Option(help="Pairs: precision each band must keep: high,medium,low.")] =
        ",".join(f"{t:.2f}" for t in DEFAULT_TARGETS),
    write: Annotated[bool, typer.Option("--write", help="Store the thresholds (the collection's, "
                                                        "or the model's profile file under data/).")] = False,
    cache: Annotated[Path | None, typer.Option(
        help="Retrieval sets: SQLite file keeping corpus embeddings between runs.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fit band thresholds: a collection's from its hit-test set (the first answer's
    cosine, and its lead over the next entry); the model's prior the same way from
    retrieval sets; or the model's from labelled pairs."""
    if sum(x is not None for x in (collection, retrieval, pairs)) != 1:
        raise InvalidInputError("give one of --collection NAME (its hit-test set), "
                                "--retrieval FOLDER or --pairs FILE")
    if collection is not None:
        return _calibrate_collection(collection, write, as_json)
    if retrieval is not None:
        return _calibrate_prior(retrieval, write, cache, as_json)
    wanted = _targets(targets)
    loaded = [load_pairs(p) for p in pairs or []]
    a = [x for d in loaded for x in d.a]
    b = [x for d in loaded for x in d.b]
    labels = np.concatenate([d.labels for d in loaded])
    encoder = load_encoder()
    with console.status(f"encoding {len(set(a)) + len(set(b))} sentences…"):
        scores = search_scores(encoder, a, b)
    thresholds, rows = fit(scores, labels, wanted)
    payload = {"model": encoder.model_id, "pairs": [str(p) for p in pairs or []], "n": len(labels),
               "thresholds": {k: round(v, 4) for k, v in thresholds.as_dict().items()},
               "bands": [r.__dict__ for r in rows]}
    if write:
        path = save_thresholds(settings().data_dir / "profiles", encoder.model_id,
                               type(thresholds)(**payload["thresholds"]),
                               {"pairs": payload["pairs"], "n": len(labels), "targets": wanted})
        console.print(f"thresholds written to {path}")
    if as_json:
        print_json(payload)
        return
    table = Table("band", "target", "threshold", "precision", "recall", "share of pairs",
                  title=f"{encoder.model_id} · {len(labels)} pairs")
    for r in rows:
        table.add_row(r.band, "" if r.band == "none" else f"{r.target:.2f}",
                      "" if r.band == "none" else f"{r.threshold:.4f}",
                      f"{r.precision:.3f}", "" if r.band == "none" else f"{r.recall:.3f}",
                      f"{r.share:.3f}")
    out.print(table)


def _calibrate_collection(collection: str, write: bool, as_json: bool) -> None:
    from indexer import bands
    from search.fit import MIN_HIGH
    from search.store import repository
    from search.store.db import open_database

    sessions = open_database(settings().resolved_database_url)
    with sessions() as session:  # an unknown collection fails before the model loads
        repository.get_collection(session, collection)
    encoder = load_encoder()
    with console.status("searching the hit-test set…"):
        done = bands.calibrate(settings(), sessions, encoder, collection, write=write)
    if as_json:
        print_json({"collection": collection, "written": write, **done.to_json()})
        return
    fitted = done.fit
    tried = ", ".join(f"{label} {'-' if r is None else f'{r:.3f}'}" for label, r in done.recall.items())
    console.print(f"{collection}: ranking {done.ranking.label} (recall@1: {tried})")
    kinds = [("question matches", fitted.thresholds)]
    if fitted.passages is not None:
        kinds.append((f"answer and chunk matches ({fitted.n_passage_questions} questions)",
                      fitted.passages))
    for what, t in kinds:
        console.print(f"{what}: high >= {t.high:.4f} leading the next entry by >= {t.margin:.4f}"
                      f", medium >= {t.medium:.4f}, low >= {t.low:.4f}")
    console.print("written" if write else "not written: add --write")
    if not fitted.high_fitted and fitted.needed >= 0:
        console.print(f"high: too few questions reach it to fit it; the model's prior is kept "
                      f"(label about {fitted.needed} more questions)")
    elif not fitted.high_fitted:
        console.print(f"high: no threshold gives {MIN_HIGH} or more of these questions a "
                      "right first answer 95% of the time; the model's prior is kept. More "
                      "questions alone will not change that: better first answers will "
                      "(similar questions, the ranking)")
    table = Table("band", "questions", "precision", "95% interval", "cross-validated precision",
                  "cross-validated share")
    cv = fitted.cross_validated
    for band, share in fitted.in_sample["band_share"].items():
        precision = fitted.in_sample["band_precision"][band]
        interval = fitted.in_sample["band_interval"][band]
        cvp = (cv.get("band_precision") or {}).get(band)
        table.add_row(band, str(fitted.in_sample["band_count"][band]),
                      "-" if precision is None else f"{precision:.3f}",
                      "-" if interval is None else f"{interval[0]:.3f}–{interval[1]:.3f}",
                      "-" if cvp is None else f"{cvp:.3f}",
                      "-" if not cv else f"{cv['band_share'][band]:.3f}")
    out.print(table)


def _calibrate_prior(folders: list[Path], write: bool, cache: Path | None, as_json: bool) -> None:
    from indexer import prior
    from search import fit as fitting
    from search.hittest import metrics

    sets = [prior.read_set(folder) for folder in folders]  # bad folders fail before the model
    encoder = load_encoder()
    with console.status("searching…") as status:
        found = prior.outcomes(settings(), encoder, sets, cache=cache, status=status.update)
    pooled = [o for one in found.values() for o in one.calibration]
    fitted = fitting.fit(pooled, encoder.profile.thresholds)
    t = fitted.thresholds
    per_set = {name: {"calibration": metrics(one.calibration, t),
                      "held_out": metrics(one.held_out, t) if one.held_out else None}
               for name, one in found.items()}
    payload = {"model": encoder.model_id, "retrieval": [str(f) for f in folders],
               "n": len(pooled), "thresholds": {k: round(v, 4) for k, v in t.as_dict().items()},
               "high_fitted": fitted.high_fitted, "cross_validated": fitted.cross_validated,
               "sets": per_set}
    if write:
        path = save_thresholds(settings().data_dir / "profiles", encoder.model_id,
                               type(t)(**payload["thresholds"]),
                               {"retrieval": payload["retrieval"], "n": len(pooled)})
        console.print(f"thresholds written to {path}")
    if as_json:
        print_json(payload)
        return
    console.print(f"{encoder.model_id} · {len(pooled)} questions: high >= {t.high:.4f} leading "
                  f"the next entry by >= {t.margin:.4f}, medium >= {t.medium:.4f}, "
                  f"low >= {t.low:.4f}" + ("" if fitted.high_fitted else
                                           " (high: too little support, the prior's is kept)"))
    table = Table("set", "questions", "recall@1", "high share", "high precision",
                  "medium precision", "right labelled none", title="first answers, per set")
    for name, parts in per_set.items():
        for part, m in parts.items():
            if m is None:
                continue
            p = m["band_precision"]
            table.add_row(f"{name} ({part.replace('_', '-')})", str(m["n_questions"]),
                          f"{m['recall_at_1']:.3f}", f"{m['band_share']['high']:.3f}",
                          "-" if p["high"] is None else f"{p['high']:.3f}",
                          "-" if p["medium"] is None else f"{p['medium']:.3f}",
                          f"{m['right_labelled_none'] or 0:.3f}")
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate)
