#!/bin/bash
# The retrieval systems on an evenly spread subset of 48 held-out questions (the time budget); the trained
# student's after its closed-book eval ends.
cd /work/wt-docseval
export OMP_NUM_THREADS=1 PYTHONPATH=src
PY="nice -n 5 /work/main/.venv/bin/python -m distill"
DS=runs/docseval/work/dataset
EV="--student runs/docseval/student/model --teacher smollm2 --teacher-backend transformers --untrained smollm2 --max-tokens 40 --concurrency 16 --top-k 1 --passage-chars 1200 --judge-rubric yesno --judge-max-tokens 4 --judge-systems untrained student --price-in 0.5 --price-out 1.5 --out runs/docseval/eval"
if [ "$1" = untrained_rag ]; then
  $PY docs eval $DS --systems untrained_rag --max-items 48 $EV > runs/docseval/eval_untrained_rag.log 2>&1
else
  while pgrep -f "systems student --student" > /dev/null; do sleep 10; done
  $PY docs eval $DS --systems student_rag --max-items 48 $EV > runs/docseval/eval_student_rag.log 2>&1
fi
echo DONE >> runs/docseval/eval_$1.log
