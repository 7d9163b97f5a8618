"""`python -m infra.ops …`: the operator commands (infra/ops/cli.py).

The entry point builds this process's settings and logging (log lines go to stderr, so a
command's own answer on stdout stays clean).
"""

from infra.logging import configure_logging
from infra.ops.cli import main
from infra.settings import settings_or_exit

settings = settings_or_exit()
configure_logging(settings)
raise SystemExit(main(settings=settings))
