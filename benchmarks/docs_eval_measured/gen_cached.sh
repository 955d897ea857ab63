#!/bin/bash
# The generation, cut at the time budget: the same command as gen.sh, but the teacher is an endpoint that is
# not there (so every call not already recorded in calls.sqlite fails at once and is counted as a teacher
# error); the data set is built from the recorded calls only.
cd /work/wt-docseval
export OMP_NUM_THREADS=1 PYTHONPATH=src
nice -n 5 /work/main/.venv/bin/python -m distill docs generate runs/docseval/work --teacher http://127.0.0.1:9 \
  --teacher-model smollm2 --max-retries 0 --timeout 2 \
  --template extractive --max-chunks 170 --questions-per-chunk 2 --max-tokens 64 --concurrency 16 --product Python \
  --quality.eval-fraction 0.6 --quality.max-per-chunk 2 --quality.unanswerable-fraction 0.25 \
  --unanswerable-docs runs/docseval/other-docs --unanswerable-docs-chunks 60 --max-attempts 2 "$@"
