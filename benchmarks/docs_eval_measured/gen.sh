#!/bin/bash
# The measured generation of docs_eval (the same flags as benchmarks/docs_eval.py GENERATE).
cd /work/wt-docseval
export OMP_NUM_THREADS=1 PYTHONPATH=src
nice -n 5 /work/main/.venv/bin/python -m distill docs generate runs/docseval/work --teacher smollm2 \
  --template extractive --max-chunks 170 --questions-per-chunk 2 --max-tokens 64 --concurrency 16 --product Python \
  --quality.eval-fraction 0.6 --quality.max-per-chunk 2 --quality.unanswerable-fraction 0.25 \
  --unanswerable-docs runs/docseval/other-docs --unanswerable-docs-chunks 60 --max-attempts 2 "$@"
