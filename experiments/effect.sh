#!/usr/bin/env bash
# The three effect experiments of issue #11, from a clean clone (after README command 2's install):
#   (a) self-improvement: Qwen2.5-Coder-0.5B trains (LoRA) on data it made itself;
#   (b) distillation: SmolLM2-135M (the embedded model, intact) trains on the same data;
#   (c) ablation: the same votes labelled by the paper's plain majority vote instead of crescent's
#       filters, trained into the same student (the cheaper arm on 2 cores).
# Every step resumes where it stopped (rerun the script); a finished step is skipped by its marker.
# Hours on 2 CPU cores: run it in the background, e.g.  nohup experiments/effect.sh > effect.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
CRESCENT=${CRESCENT:-.venv/bin/crescent}
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-runs/effect}
GSM=${GSM:-../shared/data/gsm8k}
QWEN=${QWEN:-$(../shared/models/qwen2.5-coder-0.5b.sh)}
QUESTIONS=${QUESTIONS:-250}      # accepted questions per generate run; two runs make the 500-question set
VOTES=${VOTES:-3}
EVAL_N=${EVAL_N:-500}
AUDIT_N=${AUDIT_N:-40}
THREADS=${THREADS:-2}
mkdir -p "$OUT"

step() {  # step NAME COMMAND...: run once; a marker file records completion
  local name=$1; shift
  if [ -f "$OUT/.$name.done" ]; then echo "== $name: done"; return; fi
  echo "== $name: $(date -u +%H:%M:%S)"; "$@"; touch "$OUT/.$name.done"
}
eval_on() {  # eval_on MODEL DIR MAX_TOKENS [BATCH] (an empty MODEL is the embedded SmolLM2-135M)
  local model=(); if [ -n "$1" ]; then model=(--model "$1"); fi
  "$CRESCENT" eval "${model[@]}" --data "$GSM/test.jsonl" --limit "$EVAL_N" --max-tokens "$3" \
    --batch-size "${4:-16}" --threads "$THREADS" --quiet --out "$OUT/$2"
}
generate() {  # generate DIR [label options...]: the same votes, relabelled by the given options
  "$CRESCENT" generate --model "$QWEN" --questions "$QUESTIONS" --votes "$VOTES" --vote-max-tokens 400 \
    --exclude "$GSM/test.jsonl" --threads "$THREADS" --quiet --out "$OUT/$1" "${@:2}"
}
plain_copy() { rm -rf "$OUT/qwen-data-plain"; cp -r "$OUT/qwen-data" "$OUT/qwen-data-plain"; }
PLAIN=(--no-drop-unfinished-votes --no-drop-ties --min-valid-votes 1 --no-arithmetic-check --no-shortcut-filter)

# A 135M student decodes many more sequences per step on 2 cores: every student eval uses batch 48.
step qwen-eval0 eval_on "$QWEN" qwen-eval0 400
step qwen-data generate qwen-data
# batch 2 x 4 accumulated: a 152k-token vocabulary makes batch-8 logits alone several GB (batch 8 ran out of 24 GB)
step qwen-sft "$CRESCENT" train --model "$QWEN" --data "$OUT/qwen-data/data.jsonl" --lora --epochs 2 \
  --batch-size 2 --grad-accum 4 --max-length 640 \
  --gguf-dtype q4_k_m --threads "$THREADS" --quiet --out "$OUT/qwen-sft"
step qwen-eval1 eval_on "$OUT/qwen-sft/model.gguf" qwen-eval1 400
step student-eval0 eval_on "" student-eval0 256 48
step student-sft "$CRESCENT" train --data "$OUT/qwen-data/data.jsonl" --epochs 2 --lr 5e-5 --max-length 640 \
  --threads "$THREADS" --quiet --out "$OUT/student-sft"
step student-eval1 eval_on "$OUT/student-sft/model.gguf" student-eval1 256 48
step plain-copy plain_copy
step qwen-data-plain generate qwen-data-plain "${PLAIN[@]}"
step student-plain-sft "$CRESCENT" train --data "$OUT/qwen-data-plain/data.jsonl" --epochs 2 --lr 5e-5 --max-length 640 \
  --threads "$THREADS" --quiet --out "$OUT/student-plain-sft"
step student-plain-eval1 eval_on "$OUT/student-plain-sft/model.gguf" student-plain-eval1 256 48
step qwen-audit "$CRESCENT" audit --model "$QWEN" --data "$GSM/train.jsonl" --limit "$AUDIT_N" \
  --votes "$VOTES" --vote-max-tokens 400 --threads "$THREADS" --quiet --out "$OUT/qwen-audit"
# (a) again with 500 questions: a second generate run with another seed, which also excludes the first
# run's rows so the halves do not repeat each other (the run store's own advice for scaling out); Qwen
# trains on both halves with the same recipe.
join_data() { mkdir -p "$OUT/qwen-data-500"; cat "$OUT/qwen-data/data.jsonl" "$OUT/qwen-data-b/data.jsonl" \
  > "$OUT/qwen-data-500/data.jsonl"; }
step qwen-data-b generate qwen-data-b --seed 1 --exclude "$OUT/qwen-data/data.jsonl"
step qwen-data-500 join_data
step qwen-sft-500 "$CRESCENT" train --model "$QWEN" --data "$OUT/qwen-data-500/data.jsonl" --lora --epochs 2 \
  --batch-size 2 --grad-accum 4 --max-length 640 \
  --gguf-dtype q4_k_m --threads "$THREADS" --quiet --out "$OUT/qwen-sft-500"
step qwen-eval1-500 eval_on "$OUT/qwen-sft-500/model.gguf" qwen-eval1-500 400
"$PYTHON" experiments/summarize.py "$OUT"
