"""Score histograms of correct vs wrong top-1 hits, with the band thresholds drawn."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from search.bands import Thresholds

    from .evaluate import RetrievalRun


def score_histograms(run: RetrievalRun, thresholds: Thresholds, path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    scores = np.asarray(run.top_scores)
    correct = np.asarray(run.top_correct, dtype=bool)
    low = min(float(scores.min()), thresholds.low) - 0.02
    bins = np.linspace(low, 1.0, 60)
    fig, ax = plt.subplots(figsize=(9, 5), dpi=120)
    ax.hist(scores[correct], bins=bins, alpha=0.6, color="#2e7d32",
            label=f"top-1 correct (n={int(correct.sum())})")
    ax.hist(scores[~correct], bins=bins, alpha=0.6, color="#c62828",
            label=f"top-1 wrong (n={int((~correct).sum())})")
    for name, value, colour in (("high", thresholds.high, "#1b5e20"),
                                ("medium", thresholds.medium, "#0d47a1"),
                                ("low", thresholds.low, "#e65100")):
        ax.axvline(value, color=colour, linestyle="--", linewidth=1.5)
        ax.text(value, ax.get_ylim()[1] * 0.95, f" {name} ≥ {value:.4f}", color=colour,
                rotation=90, va="top", ha="right", fontsize=9,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 1})
    ax.set_xlabel("cosine score of the top-1 hit")
    ax.set_ylabel("queries")
    ax.set_title(title or "top-1 scores")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
