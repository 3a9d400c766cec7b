"""``crescent merge``: base GGUF + train's LoRA adapter rebuilds train's own model.gguf, tensor for tensor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from typer.testing import CliRunner

from crescent.backends.hf_loading import load_model
from crescent.cli import app
from crescent.config import MergeConfig
from crescent.errors import CrescentError
from crescent.train.gguf_export import export_gguf, gguf_dtype_of
from crescent.train.merge import merge
from crescent.train.run import train

from .test_sft import tiny_config


def tensors(path: Path) -> dict[str, tuple[int, np.ndarray]]:
    import gguf

    return {t.name: (int(t.tensor_type), np.array(t.data)) for t in gguf.GGUFReader(str(path)).tensors}


@pytest.fixture(scope="module")
def q8_base(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model as a Q8_0 GGUF: a quantized base, like the real runs' Q4_K_M one."""
    loaded = load_model(str(tiny_model_dir))
    out = tmp_path_factory.mktemp("base") / "base-q8.gguf"
    return export_gguf(loaded.model, out, tokenizer=loaded.tokenizer, dtype="q8_0")


def test_merge_rebuilds_trains_gguf_with_the_bases_quantization(
    q8_base: Path, chat_data: Path, tmp_path: Path
) -> None:
    assert gguf_dtype_of(q8_base) == "q8_0"
    config = tiny_config(q8_base, chat_data, tmp_path / "run", lora=True, max_steps=2, lr=3e-2)
    run = train(config.model_copy(update={"gguf": True, "gguf_dtype": "q8_0"}))
    adapter = run.out / "adapter"
    assert sum(f.stat().st_size for f in adapter.iterdir()) < run.gguf_path.stat().st_size
    with safe_open(adapter / "adapter_model.safetensors", "pt") as weights:  # half the size of float32
        dtypes = {str(weights.get_tensor(k).dtype) for k in weights.keys()}  # noqa: SIM118 (not a dict)
    assert dtypes == {"torch.bfloat16"}

    merged = tmp_path / "merged.gguf"
    result = CliRunner().invoke(
        app, ["merge", "--model", str(q8_base), "--adapter", str(adapter), "--out", str(merged)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(str(merged))
    ours, trains = tensors(merged), tensors(run.gguf_path)
    assert ours.keys() == trains.keys() and gguf_dtype_of(merged) == "q8_0"
    for name, (kind, data) in trains.items():
        assert ours[name][0] == kind, name
        np.testing.assert_array_equal(ours[name][1], data, err_msg=name)
    base = tensors(q8_base)
    assert any(not np.array_equal(base[n][1], d) for n, (_, d) in trains.items())  # the adapter did something


def test_merge_refuses_bad_input(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(CrescentError, match=r"holds no adapter_config\.json"):
        merge(MergeConfig(model=str(tiny_model_dir), adapter=tmp_path, out=tmp_path / "m.gguf"))
    (tmp_path / "adapter_config.json").write_text("{}")
    taken = tmp_path / "taken.gguf"
    taken.write_text("not ours")
    with pytest.raises(CrescentError, match="already exists"):
        merge(MergeConfig(model=str(tiny_model_dir), adapter=tmp_path, out=taken))
    assert taken.read_text() == "not ours"


def test_merge_without_an_adapter_is_trains_export_of_the_untrained_base(
    q8_base: Path, chat_data: Path, tmp_path: Path
) -> None:
    """The zero-step control: the base alone through the export path equals a LoRA run whose adapter
    never moved (lr ~0), tensor for tensor."""
    config = tiny_config(q8_base, chat_data, tmp_path / "run", lora=True, max_steps=1, lr=1e-30)
    run = train(config.model_copy(update={"gguf": True, "gguf_dtype": "q8_0"}))
    control = tmp_path / "control.gguf"
    result = CliRunner().invoke(app, ["merge", "--model", str(q8_base), "--out", str(control)])
    assert result.exit_code == 0, result.output
    assert "zero-training-step control" in result.stderr
    ours, trains = tensors(control), tensors(run.gguf_path)
    assert ours.keys() == trains.keys()
    for name, (kind, data) in trains.items():
        assert ours[name][0] == kind, name
        np.testing.assert_array_equal(ours[name][1], data, err_msg=name)
