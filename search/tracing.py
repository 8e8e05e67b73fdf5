"""The encoder's forward pass as a traced TorchScript graph, which runs without the GIL.

An eager transformer forward pass takes Python's interpreter lock back between every
one of its few hundred operators. In a server the search ranking runs on another thread
and holds that lock for a moment at a time, so the forward pass waits at each operator:
on two cores a batch took 89 ms beside a ranking loop against 46 ms alone. A traced
graph runs its operators in C++ with the lock released (45 ms beside the same loop), so
the encoder, which bounds a server's throughput, no longer slows down as searches rank.

Tracing records the operators that one example input runs. A model whose Python code
takes a different branch for another shape would be traced wrongly, so the graph is
checked against the eager model on other shapes before it is used, and the encoder runs
eagerly where tracing is missing (PyTorch marks TorchScript deprecated), fails or
disagrees.
"""
from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger("semsearch.encoder")

# The traced example: several rows, one of them padded, so that the attention mask stays
# in the graph (a batch without padding lets some models drop the mask altogether).
_TRACE_SHAPE = (3, 16)
# Shapes the graph must agree on with the eager model: one row, and a longer batch.
_CHECK_SHAPES = ((1, 7), (5, 40))
_TOLERANCE = 1e-3  # largest difference in any hidden value (the same operators: 0 in practice)


def _example(shape: tuple[int, int], vocab: int, pad_id: int,
             device: str) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    rows, length = shape
    generator = torch.Generator().manual_seed(rows * 1000 + length)
    ids = torch.randint(5, max(vocab, 6), (rows, length), generator=generator)
    mask = torch.ones((rows, length), dtype=torch.long)
    if rows > 1:  # the last row is padded to half the length
        ids[-1, length // 2:] = pad_id
        mask[-1, length // 2:] = 0
    return ids.to(device), mask.to(device)


def trace(model: torch.nn.Module, pad_id: int, device: str) -> torch.jit.ScriptModule | None:
    """A graph computing ``model``'s last hidden state from (input_ids, attention_mask), or
    None (with the reason logged) where the model must run eagerly."""
    import torch

    tracer = getattr(torch.jit, "trace", None)
    if tracer is None:
        log.info("the model runs eagerly: this PyTorch has no torch.jit.trace")
        return None
    vocab = int(getattr(getattr(model, "config", None), "vocab_size", 0) or 1000)

    class LastHidden(torch.nn.Module):  # positional inputs, one tensor out: what the tracer takes
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    eager = LastHidden()
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            # the deprecation notice, and the tracer's notes on Python values it fixed
            warnings.simplefilter("ignore")
            graph = tracer(eager, _example(_TRACE_SHAPE, vocab, pad_id, device), check_trace=False)
            for shape in _CHECK_SHAPES:
                args = _example(shape, vocab, pad_id, device)
                gap = float((graph(*args).float() - eager(*args).float()).abs().max())
                if not gap <= _TOLERANCE:
                    log.info("the model runs eagerly: its traced graph differs by %.3g at shape %s",
                             gap, shape)
                    return None
    except Exception as exc:  # any model the tracer cannot follow runs as it is
        log.info("the model runs eagerly: tracing failed (%s: %s)", type(exc).__name__, exc)
        return None
    return graph
