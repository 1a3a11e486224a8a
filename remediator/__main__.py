"""`python -m remediator validate|plan|test|schema` (same as `tocsin runbook ...`)."""

import sys

from remediator.cli import main

sys.exit(main(sys.argv[1:]))
