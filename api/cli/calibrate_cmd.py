"""``semsearch calibrate``: band thresholds from labelled pairs."""
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
    return values  # type: ignore[return-value]


def calibrate(
    pairs: Annotated[list[Path], typer.Option(help='JSONL {"a", "b", "label"} (1 = same intent); repeatable.')],
    targets: Annotated[str, typer.Option(help="Precision each band must keep: high,medium,low.")] =
        ",".join(f"{t:.2f}" for t in DEFAULT_TARGETS),
    write: Annotated[bool, typer.Option("--write", help="Save to the model's profile file under data/.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pick each band's lowest threshold whose precision meets its target."""
    wanted = _targets(targets)
    loaded = [load_pairs(p) for p in pairs]
    a = [x for d in loaded for x in d.a]
    b = [x for d in loaded for x in d.b]
    labels = np.concatenate([d.labels for d in loaded])
    encoder = load_encoder()
    with console.status(f"encoding {len(set(a)) + len(set(b))} sentences…"):
        scores = search_scores(encoder, a, b)
    thresholds, rows = fit(scores, labels, wanted)
    payload = {"model": encoder.model_id, "pairs": [str(p) for p in pairs], "n": len(labels),
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


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate)
