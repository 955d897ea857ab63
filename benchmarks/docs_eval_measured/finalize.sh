#!/bin/bash
# Reads every recorded answer back: the five systems on the 48-question subset, then the full held-out set
# for the systems that answered all of it; then the benchmark report.
cd /work/wt-docseval
export OMP_NUM_THREADS=1 PYTHONPATH=src
PY="nice -n 5 /work/main/.venv/bin/python -m distill"
DS=runs/docseval/work/dataset
EV="--student runs/docseval/student/model --teacher smollm2 --teacher-backend transformers --untrained smollm2 --max-tokens 40 --concurrency 16 --top-k 1 --passage-chars 1200 --judge-rubric yesno --judge-max-tokens 4 --judge-systems untrained student --price-in 0.5 --price-out 1.5 --out runs/docseval/eval"
SUB=${SUB:-"untrained untrained_rag student student_rag teacher"}
FULL=${FULL:-"untrained student teacher"}
$PY docs eval $DS --systems $SUB --max-items 48 $EV && rm -rf runs/docseval/eval_subset48 && mkdir -p runs/docseval/eval_subset48 && cp runs/docseval/eval/results.* runs/docseval/eval/eval.png runs/docseval/eval_subset48/
$PY docs eval $DS --systems $FULL $EV
/work/main/.venv/bin/python benchmarks/docs_eval.py --report-only
