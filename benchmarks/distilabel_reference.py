"""distilabel 1.5 producing K solutions for N questions with the same GGUF: run as a subprocess.

    /work/venv-distilabel/bin/python benchmarks/distilabel_reference.py JOB.json

``JOB.json`` (written by ``references.distilabel_votes``) holds the questions, K, the vote length,
temperature, top-p, solve instruction, model path, threads and context size. The reference calls
``LlamaCppLLM.generate`` (the call ``TextGeneration`` makes for each batch of a distilabel pipeline) on
every question's chat prompt with ``num_generations=K``: distilabel's llama.cpp LLM drives
``llama_cpp.Llama.create_chat_completion`` one sample at a time, which is what a user of it gets. The
pipeline's own machinery (processes, queues, caching) is left out so that only generation is timed;
model loading is timed apart. Prints one JSON line.

It runs in its own interpreter because distilabel is an optional benchmark dependency, possibly in a
separate venv. The llama.cpp build must be the one crescent uses, so the engines compare; on an AMX
machine crescent's workaround for the AMX segfault is applied while the model loads.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    import distilabel
    import llama_cpp
    from distilabel.models.llms import LlamaCppLLM

    try:  # crescent on PYTHONPATH: load with its buffer choice (AMX off), as crescent's engine does
        from crescent.backends.llamacpp import _plain_buffers_for_high_level_api

        buffers = _plain_buffers_for_high_level_api(llama_cpp)
    except ImportError:
        buffers = contextlib.nullcontext()
    from crescent.prompts import solve_prompt

    llm = LlamaCppLLM(
        model_path=job["model_path"],
        n_ctx=job["n_ctx"],
        seed=0,
        extra_kwargs={"n_threads": job["threads"], "n_threads_batch": job["threads"]},
    )
    started = time.perf_counter()
    with buffers:
        llm.load()
    load_s = time.perf_counter() - started
    inputs = [
        [{"role": "user", "content": solve_prompt(q, job["solve_instruction"])}] for q in job["questions"]
    ]
    started = time.perf_counter()
    outputs = llm.generate(
        inputs=inputs,
        num_generations=job["votes"],
        max_new_tokens=job["vote_max_tokens"],
        temperature=job["vote_temperature"],
        top_p=job["vote_top_p"],
    )
    wall = time.perf_counter() - started
    tokens = sum(sum(out["statistics"]["output_tokens"]) for out in outputs)
    print(
        json.dumps(
            {
                "tok_s": round(tokens / wall, 2) if wall else 0.0,
                "completion_tokens": tokens,
                "wall_s": round(wall, 2),
                "load_s": round(load_s, 2),
                "sequences": len(inputs) * job["votes"],
                "distilabel_version": distilabel.__version__,
                "llama_cpp_version": llama_cpp.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
