#!/usr/bin/env bash
# Issue #19: learn from all the votes. Qwen2.5-Coder-0.5B, 500 generated questions at K = 8 (adaptive), every arm
# from the same votes, each evaluated on all 1,319 GSM8K test items (0-shot greedy, paired with the base model):
#   (a) SFT on multi-path majority rows (--paths 4)
#   (b) DPO + NLL on the weighted pairs (pairs.jsonl)
#   (c) format control: SFT on as many first-vote solutions, unfiltered and unvoted
#   (d) HumanEval pass@1 of the base model and of every arm (general ability kept)
# Hours of CPU: run in the background (nohup experiments/method.sh > method.log 2>&1 &), across sessions.
source "$(dirname "$0")/common.sh"
QUESTIONS=${QUESTIONS:-500}

step qwen05-eval0 gsm_eval "$QWEN" qwen05-eval0
step qwen05-humaneval0 humaneval "$QWEN" qwen05-humaneval0
# Bait prompts measured on this model without gold answers: answerable, majority at K = 5, multi-step.
step bait-measure "$PYTHON" scripts/measure_bait.py --model "$QWEN" --questions 40 --votes 5 \
  --vote-max-tokens 400 --self-check "${THREADS[@]}" --quiet --out "$OUT/bait-measure"
# The bait: BAIT if set, else the prompt the measurement chose by its fixed rule (measure_bait.json "rule").
if [ -z "${BAIT:-}" ]; then
  BAIT=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["chosen"] or "")' \
    "$OUT/bait-measure/measure_bait.json")
fi
bait=(); if [ -n "$BAIT" ]; then bait=(--bait-prompt "$BAIT"); fi
echo "bait prompt: ${BAIT:-the default}"
step qwen05-data "$CRESCENT" generate --model "$QWEN" --questions "$QUESTIONS" --votes 8 --adaptive-votes \
  --paths 4 --pair-probes 2 --vote-max-tokens 400 --exclude "$GSM/test.jsonl" "${bait[@]}" "${THREADS[@]}" \
  --quiet --out "$OUT/qwen05-data"
step arm-a-train lora "$QWEN" "$OUT/qwen05-data/data.jsonl" arm-a-train
step arm-b-train lora "$QWEN" "$OUT/qwen05-data/pairs.jsonl" arm-b-train --method dpo
step arm-c-data "$PYTHON" experiments/format_control.py "$OUT/qwen05-data" \
  --rows "$(rows_of "$OUT/qwen05-data/data.jsonl")" --out "$OUT/arm-c-data/data.jsonl"
step arm-c-train lora "$QWEN" "$OUT/arm-c-data/data.jsonl" arm-c-train
for arm in a b c; do
  step "arm-$arm-eval" gsm_eval "$OUT/arm-$arm-train/model.gguf" "arm-$arm-eval"
  step "arm-$arm-humaneval" humaneval "$OUT/arm-$arm-train/model.gguf" "arm-$arm-humaneval"
done
# The labels' precision and tie rate at K = 1..8 (audit.json by_votes), on gold-answered GSM8K-train items;
# last, since no arm depends on it. Scored twice from the same 800 votes: with the self-check, then without it,
# since this model's self-check says "No" to 99 of 100 real problems and so drops every label.
audit8=(--model "$QWEN" --data "$GSM/train.jsonl" --limit 100 --votes 8 --vote-max-tokens 400 "${THREADS[@]}" --quiet)
step qwen05-audit8 "$CRESCENT" audit "${audit8[@]}" --self-check --out "$OUT/qwen05-audit8"
step qwen05-audit8-rescored rescore qwen05-audit8 qwen05-audit8-rescored "${audit8[@]}" --no-self-check
export_control
"$PYTHON" experiments/summarize.py "$OUT"
