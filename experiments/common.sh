# Shared by experiments/method.sh (#19) and experiments/distill.sh (#20): paths, models and the step runner.
# Every step resumes where it stopped (rerun the script); a finished step is skipped by its marker.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CRESCENT=${CRESCENT:-.venv/bin/crescent}
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-runs/effect2}
GSM=${GSM:-../shared/data/gsm8k}
QWEN=${QWEN:-$(../shared/models/qwen2.5-coder-0.5b.sh)}          # the self-improver, and the student
TEACHER=${TEACHER:-$(../shared/models/qwen2.5-coder-1.5b.sh)}     # the distillation teacher
THREADS=(); if [ -n "${THREADS_N:-}" ]; then THREADS=(--threads "$THREADS_N"); fi  # default: the free cores
mkdir -p "$OUT"

step() {  # step NAME COMMAND...: run once; a marker file records completion
  local name=$1; shift
  # A step whose finished outputs are committed (experiments/results/NAME/results.json) is done on a fresh
  # machine too; a committed partial run (NAME-partial/: its run.sqlite, or one folder per sub-run) is where
  # that step resumes.
  if [ ! -f "$OUT/.$name.done" ] && [ -f "experiments/results/$name/results.json" ]; then
    mkdir -p "$OUT/$name" && cp experiments/results/"$name"/* "$OUT/$name/" && touch "$OUT/.$name.done"
  elif [ ! -e "$OUT/$name" ] && [ -d "experiments/results/$name-partial" ]; then
    mkdir -p "$OUT" && cp -r "experiments/results/$name-partial" "$OUT/$name"
  fi
  if [ -f "$OUT/.$name.done" ]; then echo "== $name: done"; return; fi
  echo "== $name: $(date -u +%H:%M:%S)"; "$@"; touch "$OUT/.$name.done"
}
gsm_eval() {  # gsm_eval MODEL DIR [LIMIT]: 0-shot greedy, every GSM8K test item unless LIMIT
  local limit=(); if [ -n "${3:-}" ]; then limit=(--limit "$3"); fi
  "$CRESCENT" eval --model "$1" --data "$GSM/test.jsonl" "${limit[@]}" --max-tokens 400 --batch-size 16 \
    "${THREADS[@]}" --quiet --out "$OUT/$2"
}
humaneval() {  # humaneval MODEL DIR: pass@1, greedy, code run in the sandbox
  "$CRESCENT" eval --task humaneval --model "$1" --max-tokens 512 --batch-size 16 "${THREADS[@]}" --quiet \
    --out "$OUT/$2"
}
lora() {  # lora BASE DATA DIR [train options...]: the one student/self recipe of both experiments
  local kept="experiments/results/$3"
  if [ -f "$kept/adapter/adapter_config.json" ] && [ -f "$kept/train_stats.json" ]; then
    # Trained in an earlier session and committed: `crescent merge` rebuilds the evaluated GGUF from the base
    # and the adapter byte for byte (checked with cmp), in minutes instead of the hour a training takes.
    mkdir -p "$OUT/$3" && cp "$kept/train_stats.json" "$OUT/$3/"
    if [ ! -f "$OUT/$3/model.gguf" ]; then  # merge writes it atomically: present means complete
      "$CRESCENT" merge --model "$1" --adapter "$kept/adapter" --out "$OUT/$3/model.gguf"
    fi
    return
  fi
  # A checkpoint every 10 steps: a training of 30-60 steps takes 1-1.5 h on 2 cores, and a stopped one resumes
  # from its newest checkpoint (train keeps two), so a session that ends mid-training loses at most 10 steps.
  "$CRESCENT" train --model "$1" --data "$2" --lora --epochs 2 --batch-size 2 --grad-accum 4 --max-length 640 \
    --gguf-dtype q4_k_m --save-steps 10 "${THREADS[@]}" --quiet --out "$OUT/$3" "${@:4}"
}
export_control() {  # the base model through train's export path with zero training steps: what a gain must beat
  mkdir -p "$OUT/qwen05-export0"
  step qwen05-export0 "$CRESCENT" merge --model "$QWEN" --gguf-dtype q4_k_m --out "$OUT/qwen05-export0/model.gguf"
  step qwen05-export0-eval gsm_eval "$OUT/qwen05-export0/model.gguf" qwen05-export0-eval
  step qwen05-export0-humaneval humaneval "$OUT/qwen05-export0/model.gguf" qwen05-export0-humaneval
}
rescore() {  # rescore SOURCE NAME AUDIT_OPTIONS...: a finished audit's votes scored again under other options
  # On a copy of SOURCE's store, so SOURCE's own audit.json stays as it ran; no vote is drawn again (the options
  # that pick the items and votes must be SOURCE's). RESCORED_FROM names SOURCE, so summarize.py counts the
  # votes' hours once.
  if [ ! -f "$OUT/$2/run.sqlite" ]; then  # the marker first: a copy never exists without it
    mkdir -p "$OUT/$2" && echo "$1" > "$OUT/$2/rescored_from"
    "$PYTHON" experiments/snapshot_store.py "$OUT/$1/run.sqlite" "$OUT/$2/run.sqlite"
  fi
  "$CRESCENT" audit "${@:3}" --out "$OUT/$2"
}
rows_of() { wc -l < "$1" | tr -d ' '; }
