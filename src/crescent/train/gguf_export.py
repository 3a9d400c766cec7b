"""Write a transformers Llama model as a GGUF file that crescent's llama.cpp backend can load.

Route: the weights are written fresh with ``gguf.GGUFWriter`` (F16 matrices by default, F32 norms; never
re-quantized), the architecture keys come from the HF config, and the tokenizer and general metadata are
copied from a *template* GGUF: the file the model was originally read from, or the embedded SmolLM2
GGUF when the model's tokenizer is that one (a model trained from the default, a pruned student). So
the default model round-trips with no external tool. For other architectures or tokenizers, llama.cpp's
``convert_hf_to_gguf.py`` is used when it is installed locally (set ``CRESCENT_CONVERT_HF_TO_GGUF`` to
its path, or put it on PATH); it is never bundled.

The one subtle step: llama.cpp stores the rows of ``attn_q``/``attn_k`` interleaved per head for its
rotary embedding, and transformers' GGUF loader undoes that when reading (``_reverse_permute_weights``
in ``transformers/modeling_gguf_pytorch_utils.py``). Export applies the forward permutation, exactly the
inverse, so that GGUF -> HF -> GGUF gives back the same tensors.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import numpy as np

from crescent.config import GGUFDtype
from crescent.errors import CrescentError
from crescent.models import default_model_path
from crescent.owned_files import temp_beside

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from crescent.backends.hf_loading import LoadedModel

GGUFType = GGUFDtype
# llama.cpp's own quantizer (through llama-cpp-python) writes the quantized types from an F16 file.
_QUANTIZED = {
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1",
}
CONVERTER_ENV = "CRESCENT_CONVERT_HF_TO_GGUF"
_COPIED_PREFIXES = ("general.", "tokenizer.")
_NOT_COPIED = {"general.architecture", "general.file_type", "general.quantization_version"}


def export_run_model(model: PreTrainedModel, loaded: LoadedModel, out: Path, dtype: GGUFType) -> Path:
    """Write OUT/model.gguf from ``model`` and its HF folder OUT/model, already saved, carrying over the
    tokenizer and metadata of the model it was ``loaded`` from: the export ``train`` and ``prune`` share."""
    out = Path(out)
    return export_gguf(
        model,
        out / "model.gguf",
        tokenizer=loaded.tokenizer,
        source_gguf=loaded.source_gguf,
        model_dir=out / "model",
        dtype=dtype,
    )


def export_gguf(
    model: PreTrainedModel,
    out: Path,
    *,
    tokenizer: PreTrainedTokenizerBase | None = None,
    source_gguf: Path | None = None,
    model_dir: Path | None = None,
    dtype: GGUFType = "f16",
) -> Path:
    """Write ``model`` to ``out`` atomically; ``model_dir`` (its saved HF folder) enables the converter."""
    out = Path(out)
    if dtype in _QUANTIZED:
        with temp_beside(out, suffix=".f16.gguf") as f16:
            export_gguf(
                model, f16, tokenizer=tokenizer, source_gguf=source_gguf, model_dir=model_dir, dtype="f16"
            )
            quantize_gguf(f16, out, dtype)
        return out
    problem = unsupported_reason(model)
    if problem is None:
        template = choose_template(model, tokenizer, source_gguf)
        with temp_beside(out) as tmp:
            write_llama_gguf(model, tmp, template=template, dtype=dtype)
            os.replace(tmp, out)
        return out
    converter = find_converter()
    if converter is None or model_dir is None:
        raise CrescentError(
            f"cannot export this model to GGUF ({problem}); install llama.cpp's convert_hf_to_gguf.py "
            f"and set {CONVERTER_ENV} to its path, or use the HF folder with --backend transformers"
        )
    return _run_converter(converter, Path(model_dir), out, dtype)


# HF model_type -> (llama.cpp architecture, whether attn_q/attn_k rows are stored permuted for rope).
# Qwen2 uses NEOX-style rope in llama.cpp, so its q/k rows are written as transformers holds them.
ARCHITECTURES = {"llama": ("llama", True), "qwen2": ("qwen2", False)}


def quantize_gguf(source: Path, out: Path, dtype: GGUFType) -> Path:
    """Quantize an F16/F32 GGUF with llama.cpp's quantizer (a model the base was quantized like, e.g.
    Q4_K_M, is then compared with its fine-tuned self at the same precision and speed)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, _QUANTIZED[dtype])
    params.nthread = os.cpu_count() or 1
    with temp_beside(out) as tmp:
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params)
        if status != 0 or not (tmp.is_file() and tmp.stat().st_size):
            raise CrescentError(f"llama.cpp could not quantize {source} to {dtype} (status {status})")
        os.replace(tmp, out)
    return out


def gguf_dtype_of(path: Path) -> GGUFType:
    """The weight type a GGUF file declares (``general.file_type``), as crescent's ``--gguf-dtype`` name,
    so a model rebuilt from it (``crescent merge``) is quantized like it."""
    import gguf

    field = gguf.GGUFReader(str(path)).fields.get("general.file_type")
    if field is None:
        raise CrescentError(f"{path} does not declare its weight type; pass --gguf-dtype")
    value = int(field.contents())
    try:
        name = gguf.LlamaFileType(value).name.removeprefix("MOSTLY_").removeprefix("ALL_").lower()
    except ValueError:
        name = f"file type {value}"
    if name not in get_args(GGUFDtype):
        raise CrescentError(
            f"{path} holds {name} weights, which crescent cannot write; pass --gguf-dtype "
            f"({', '.join(get_args(GGUFDtype))})"
        )
    return name  # type: ignore[return-value]


def unsupported_reason(model: PreTrainedModel) -> str | None:
    """Why the built-in writer cannot express this model, or None when it can."""
    cfg = model.config
    if cfg.model_type not in ARCHITECTURES:
        return f"architecture '{cfg.model_type}' is not one of {sorted(ARCHITECTURES)}"
    if cfg.model_type == "llama" and (
        getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False)
    ):
        return "the model has attention or MLP biases"
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    if rope.get("rope_type", "default") != "default":
        return f"rope scaling '{rope.get('rope_type')}' is not supported by the built-in writer"
    return None


def choose_template(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase | None, source_gguf: Path | None
) -> Path:
    """The GGUF whose tokenizer metadata the export reuses: its source file, or else the embedded one."""
    candidates = [source_gguf] if source_gguf is not None else []
    candidates.append(default_model_path())
    for path in candidates:
        tokens = next(
            (value for name, _, _, value in template_metadata(path) if name == "tokenizer.ggml.tokens"), []
        )
        if len(tokens) != model.config.vocab_size:
            continue
        if tokenizer is None or tokenizer.convert_ids_to_tokens(list(range(len(tokens)))) == tokens:
            return Path(path)
    raise CrescentError(
        "cannot export to GGUF: the model's tokenizer is not the one of its source GGUF nor of the embedded "
        f"SmolLM2 model; install llama.cpp's convert_hf_to_gguf.py and set {CONVERTER_ENV} to its path"
    )


def template_metadata(path: Path) -> list[tuple[str, Any, Any, Any]]:
    """The general and tokenizer keys of a GGUF as ``(name, type, array item type, value)``."""
    stat = Path(path).stat()
    return _read_metadata(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)
def _read_metadata(path: str, _mtime: int, _size: int) -> list[tuple[str, Any, Any, Any]]:
    """Cached: ``GGUFReader`` parses a 49k-token vocabulary in Python, which takes seconds."""
    import gguf

    fields = []
    for field in gguf.GGUFReader(path).fields.values():
        if not field.name.startswith(_COPIED_PREFIXES) or field.name in _NOT_COPIED:
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        fields.append((field.name, vtype, sub_type, field.contents()))
    return fields


def permute_for_gguf(weights: np.ndarray, n_head: int) -> np.ndarray:
    """Interleave each head's rows as llama.cpp's rotary embedding reads them (the loader's inverse)."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def write_llama_gguf(model: PreTrainedModel, out: Path, *, template: Path, dtype: GGUFType = "f16") -> None:
    import gguf
    import torch

    cfg = model.config
    arch, permute_qk = ARCHITECTURES[cfg.model_type]
    writer = gguf.GGUFWriter(str(out), arch)
    for name, vtype, sub_type, value in template_metadata(template):
        writer.add_key_value(name, value, vtype, sub_type=sub_type)
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    rope = getattr(cfg, "rope_parameters", None) or {}
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_freq_base(float(rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0))))
    writer.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_rope_dimension_count(head_dim)
    if head_dim != cfg.hidden_size // cfg.num_attention_heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)

    gguf_arch = gguf.MODEL_ARCH.QWEN2 if arch == "qwen2" else gguf.MODEL_ARCH.LLAMA
    names = gguf.get_tensor_name_map(gguf_arch, cfg.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue  # llama.cpp reuses token_embd when there is no output tensor
        base, _, suffix = hf_name.rpartition(".")
        gguf_name = names.get_name(base)
        if gguf_name is None:
            if "rotary_emb" in base:
                continue  # a computed buffer, not a weight
            raise CrescentError(f"cannot export tensor {hf_name} to GGUF: no llama.cpp name for it")
        array = tensor.detach().to(torch.float32).cpu().numpy()
        if not permute_qk:
            pass
        elif gguf_name.endswith("attn_q"):
            array = permute_for_gguf(array, cfg.num_attention_heads)
        elif gguf_name.endswith("attn_k"):
            array = permute_for_gguf(array, cfg.num_key_value_heads)
        if array.ndim > 1 and dtype == "f16":
            array = array.astype(np.float16)
        writer.add_tensor(f"{gguf_name}.{suffix}", np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def find_converter() -> Path | None:
    """llama.cpp's ``convert_hf_to_gguf.py`` if the user has it locally (never downloaded)."""
    explicit = os.environ.get(CONVERTER_ENV)
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    for name in ("convert_hf_to_gguf.py", "convert-hf-to-gguf.py", "convert_hf_to_gguf"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def _run_converter(converter: Path, model_dir: Path, out: Path, dtype: GGUFType) -> Path:
    command = (
        [str(converter)]
        if os.access(converter, os.X_OK) and converter.suffix != ".py"
        else [sys.executable, str(converter)]
    )
    with temp_beside(out) as tmp:
        result = subprocess.run(
            [*command, str(model_dir), "--outfile", str(tmp), "--outtype", dtype],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not (tmp.is_file() and tmp.stat().st_size):
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise CrescentError(f"{converter.name} failed on {model_dir}: {last[0][:300]}")
        os.replace(tmp, out)
    return out
