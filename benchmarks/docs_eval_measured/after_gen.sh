#!/bin/bash
# After generation: train the student, then score the trained systems; beside it, score the untrained
# systems and the teacher; one eval of every finished system (every answer recorded: read back) writes results.
cd /work/wt-docseval
export OMP_NUM_THREADS=1 PYTHONPATH=src
PY="nice -n 5 /work/main/.venv/bin/python -m distill"
DS=runs/docseval/work/dataset
while [ ! -f runs/docseval/work/generate.json ]; do sleep 10; done
EV="--student runs/docseval/student/model --teacher smollm2 --teacher-backend transformers --untrained smollm2 --max-tokens 40 --concurrency 16 --top-k 1 --passage-chars 1200 --judge-rubric yesno --judge-max-tokens 4 --judge-systems untrained student --price-in 0.5 --price-out 1.5 --out runs/docseval/eval"
( $PY docs train $DS --student smollm2 --steps 10 --batch-size 8 --lr 1.5e-4 --warmup 1 --out runs/docseval/student > runs/docseval/train.log 2>&1; echo TRAIN-DONE >> runs/docseval/train.log
  for s in student student_rag; do $PY docs eval $DS --systems $s $EV > runs/docseval/eval_$s.log 2>&1; echo DONE >> runs/docseval/eval_$s.log; done ) &
for s in untrained teacher untrained_rag; do $PY docs eval $DS --systems $s $EV > runs/docseval/eval_$s.log 2>&1; echo DONE >> runs/docseval/eval_$s.log; done
wait
$PY docs eval $DS $EV > runs/docseval/eval_all.log 2>&1
echo EVAL-ALL-DONE >> runs/docseval/eval_all.log
