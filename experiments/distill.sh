#!/usr/bin/env bash
# Issue #20: distillation as the paper claims it. Teacher Qwen2.5-Coder-1.5B, student Qwen2.5-Coder-0.5B (same
# tokenizer and chat format). The same teacher labels, by the same votes and filters:
#   (a) Crescent: questions it writes itself (bait + self-dedup);
#   (b) seed augmentation: GSM8K-train questions (--questions-from; their gold answers are never read).
# The student trains on an equal number of rows from each (the first ROWS of each data.jsonl, ROWS = the smaller
# set), with one recipe, and is evaluated on all 1,319 GSM8K test items, paired with its base model (the same
# qwen05-eval0 as experiments/method.sh), plus HumanEval pass@1.
# (b) has a home advantage on GSM8K test (same distribution as its questions); it is the paper's comparison.
source "$(dirname "$0")/common.sh"
QUESTIONS=${QUESTIONS:-300}
voting=(--votes 5 --adaptive-votes --vote-max-tokens 400 --exclude "$GSM/test.jsonl" "${THREADS[@]}" --quiet)

step qwen05-eval0 gsm_eval "$QWEN" qwen05-eval0
step qwen05-humaneval0 humaneval "$QWEN" qwen05-humaneval0
step teacher-eval0 gsm_eval "$TEACHER" teacher-eval0 200
step teacher-data-crescent "$CRESCENT" generate --model "$TEACHER" --questions "$QUESTIONS" "${voting[@]}" \
  --out "$OUT/teacher-data-crescent"
step teacher-data-seed "$CRESCENT" generate --model "$TEACHER" --questions-from "$GSM/train.jsonl" \
  --questions "$QUESTIONS" "${voting[@]}" --out "$OUT/teacher-data-seed"
equal_rows() {
  local n; n=$(( $(rows_of "$OUT/teacher-data-crescent/data.jsonl") < $(rows_of "$OUT/teacher-data-seed/data.jsonl") \
    ? $(rows_of "$OUT/teacher-data-crescent/data.jsonl") : $(rows_of "$OUT/teacher-data-seed/data.jsonl") ))
  for arm in crescent seed; do
    mkdir -p "$OUT/distill-$arm-rows"
    head -n "$n" "$OUT/teacher-data-$arm/data.jsonl" > "$OUT/distill-$arm-rows/data.jsonl"
  done
}
step distill-equal-rows equal_rows
for arm in crescent seed; do
  step "distill-$arm-train" lora "$QWEN" "$OUT/distill-$arm-rows/data.jsonl" "distill-$arm-train"
  step "distill-$arm-eval" gsm_eval "$OUT/distill-$arm-train/model.gguf" "distill-$arm-eval"
  step "distill-$arm-humaneval" humaneval "$OUT/distill-$arm-train/model.gguf" "distill-$arm-humaneval"
done
export_control
"$PYTHON" experiments/summarize.py "$OUT"
