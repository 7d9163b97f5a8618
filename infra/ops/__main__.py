"""`python -m infra.ops …`: the operator commands (infra/ops/cli.py)."""

from infra.ops.cli import main

raise SystemExit(main())
