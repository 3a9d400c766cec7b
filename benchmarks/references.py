"""What a user would run instead of crescent's vote phase, on the same questions, K and vote length.

- ``hf_votes``: transformers ``generate`` written the plain way: batches of 16 prompts (each question
  repeated K times), ``max_new_tokens`` = the vote length, sampling with the votes' temperature and top-p,
  weights dequantized from the same GGUF (``gguf_file=``, through crescent's ``hf_loading``). A batch runs
  until its longest sequence ends, as ``generate`` does; tokens counted are those before each sequence's
  end of turn, so tok/s is useful tokens over wall time.
- ``distilabel_votes``: distilabel 1.5's ``LlamaCppLLM.generate`` with ``num_generations=K``, in a
  subprocess of the interpreter that has distilabel (``distilabel_reference.py``); see that file.

Both report wall time and tokens/s of generation only (model loading is timed apart), the figures the
vote phase reports in ``phases.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HF_BATCH = 16


def hf_votes(model_path: str, threads: int, spec: dict) -> dict:
    """``spec``: questions, votes, vote_max_tokens, vote_temperature, vote_top_p, solve_instruction."""
    import torch

    from crescent.backends.hf_loading import load_model
    from crescent.prompts import solve_messages

    torch.set_num_threads(threads)
    started = time.perf_counter()
    loaded = load_model(model_path)
    load_s = time.perf_counter() - started
    model, tokenizer = loaded.model.eval(), loaded.tokenizer
    tokenizer.padding_side = "left"  # decoder-only batches pad on the left
    prompts = [
        tokenizer.apply_chat_template(
            list(solve_messages(question, spec["solve_instruction"])),
            add_generation_prompt=True,
            tokenize=False,
        )
        for question in spec["questions"]
        for _ in range(spec["votes"])
    ]
    # A turn ends at EOS or, in ChatML models (SmolLM2, Qwen2.5), at either end marker, as the models'
    # own generation configs list them; a tokenizer read from a GGUF names only one of them as EOS.
    stops = {t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None}
    stops |= set(
        tokenizer.convert_tokens_to_ids(
            [t for t in ("<|im_end|>", "<|endoftext|>") if t in tokenizer.get_vocab()]
        )
    )
    torch.manual_seed(0)
    generated, wall = 0, 0.0
    for first in range(0, len(prompts), HF_BATCH):
        inputs = tokenizer(
            prompts[first : first + HF_BATCH], return_tensors="pt", padding=True, add_special_tokens=False
        )
        began = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                do_sample=True,
                temperature=spec["vote_temperature"],
                top_p=spec["vote_top_p"],
                max_new_tokens=spec["vote_max_tokens"],
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=sorted(stops),
            )
        wall += time.perf_counter() - began
        for row in out[:, inputs["input_ids"].shape[1] :].tolist():
            ends = [i for i, token in enumerate(row) if token in stops]
            generated += ends[0] if ends else len(row)
    return {
        "tok_s": round(generated / wall, 2) if wall else 0.0,
        "completion_tokens": generated,
        "wall_s": round(wall, 2),
        "load_s": round(load_s, 2),
        "sequences": len(prompts),
        "batch": HF_BATCH,
    }


def distilabel_votes(python: str, model_path: str, threads: int, spec: dict, n_ctx: int) -> dict:
    """Run ``distilabel_reference.py`` under ``python`` (an interpreter with distilabel 1.5 installed)."""
    with tempfile.TemporaryDirectory(prefix="crescent-distilabel-") as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({**spec, "model_path": model_path, "threads": threads, "n_ctx": n_ctx}))
        env = dict(
            os.environ,
            PYTHONPATH=str(HERE.parent / "src"),
            DISTILABEL_CACHE_DIR=str(Path(tmp) / "cache"),  # nothing left behind in ~/.cache
        )
        done = subprocess.run(
            [python, str(HERE / "distilabel_reference.py"), str(job)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"distilabel reference failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """``python references.py hf|distilabel JOB.json``: one reference alone (for debugging)."""
    kind, job = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    if kind == "hf":
        print(json.dumps(hf_votes(job["model_path"], job["threads"], job)))
    else:
        print(
            json.dumps(distilabel_votes(job["python"], job["model_path"], job["threads"], job, job["n_ctx"]))
        )


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    main()
