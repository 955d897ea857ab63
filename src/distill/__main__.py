"""`python -m distill`: the `distill` command line (:func:`distill.cli.main`); its exit status is the process's."""

from distill.cli import main

raise SystemExit(main())
