"""The traced forward pass (search.tracing): used only where it computes what the model does."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from search import tracing


class _Encoded(SimpleNamespace):
    last_hidden_state: torch.Tensor


class _Tiny(torch.nn.Module):
    """A transformer-shaped stand-in: ids and mask in, a last hidden state out."""

    config = SimpleNamespace(vocab_size=50)

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 4)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> _Encoded:
        return _Encoded(last_hidden_state=self.embed(input_ids) * attention_mask.unsqueeze(-1))


class _BranchesOnLength(_Tiny):
    """Python that reads a shape as a number: a trace fixes the branch of its example."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> _Encoded:
        hidden = super().forward(input_ids, attention_mask).last_hidden_state
        return _Encoded(last_hidden_state=hidden * 2 if int(input_ids.shape[1]) > 10 else hidden)


def test_a_model_that_traces_faithfully_runs_as_a_graph_with_the_same_output() -> None:
    model = _Tiny().eval()
    graph = tracing.trace(model, pad_id=0, device="cpu")
    assert graph is not None
    ids = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 0, 0, 0]])
    mask = (ids != 0).long()
    with torch.inference_mode():
        assert torch.equal(graph(ids, mask), model(ids, mask).last_hidden_state)


def test_a_model_whose_code_branches_on_the_shape_runs_eagerly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "semsearch.encoder"):
        assert tracing.trace(_BranchesOnLength().eval(), pad_id=0, device="cpu") is None
    assert "runs eagerly: its traced graph differs" in caplog.text


def test_a_model_the_tracer_cannot_follow_runs_eagerly(caplog: pytest.LogCaptureFixture) -> None:
    class Fails(_Tiny):
        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> _Encoded:
            raise RuntimeError("unsupported operator")

    with caplog.at_level(logging.INFO, "semsearch.encoder"):
        assert tracing.trace(Fails().eval(), pad_id=0, device="cpu") is None
    assert "tracing failed (RuntimeError: unsupported operator)" in caplog.text


def test_a_pytorch_without_the_tracer_runs_the_model_eagerly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(torch.jit, "trace")
    assert tracing.trace(_Tiny().eval(), pad_id=0, device="cpu") is None
