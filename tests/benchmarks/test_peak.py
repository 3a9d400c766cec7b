"""benchmarks/peak.py: FLOPs per token from a GGUF's tensor shapes, and the peak through llama.cpp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import peak
import pytest

from crescent.models import default_model_path


def _gguf(path: Path, tensors: dict[str, tuple[int, ...]]) -> Path:
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    for name, shape in tensors.items():
        writer.add_tensor(name, np.zeros(shape, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


BODY = {"token_embd.weight": (10, 4), "blk.0.attn_q.weight": (4, 4), "blk.0.attn_norm.weight": (4,)}


def test_separate_output_counts_and_embedding_lookup_does_not(tmp_path: Path) -> None:
    flops = peak.model_flops(_gguf(tmp_path / "m.gguf", {**BODY, "output.weight": (6, 4)}))
    assert flops["parameters"] == 40 + 16 + 4 + 24
    assert flops["matmul_parameters"] == 16 + 24  # attention matrix + output; no lookup, no norm
    assert flops["flops_per_token"] == 2 * 40 and not flops["tied_embeddings"]


def test_tied_embedding_is_the_output_projection(tmp_path: Path) -> None:
    flops = peak.model_flops(_gguf(tmp_path / "m.gguf", BODY))
    assert flops["matmul_parameters"] == 40 + 16 and flops["tied_embeddings"]
    assert flops["dominant_quant_type"] == "F32"


def test_fraction_of_peak() -> None:
    assert peak.fraction_of_peak(10.0, {"flops_per_token": 100, "peak_flop_s": 4000}) == 0.25


@pytest.mark.slow
def test_measured_peak_on_the_embedded_model() -> None:
    result = peak.measured_peak(str(default_model_path()), threads=1, tokens=32)
    assert result["dominant_quant_type"] == "Q4_1" and result["tied_embeddings"]
    assert len(result["peak_walls_s"]) == peak.PEAK_REPEATS and result["peak_flop_s"] > 0
    # peak FLOP/s is the model's FLOPs per token at the measured prompt-processing rate
    assert result["peak_flop_s"] == pytest.approx(result["flops_per_token"] * result["peak_tok_s"], rel=0.01)
