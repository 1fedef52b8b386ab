"""`python -m bot`: the `clientcoach` command; Ctrl-C while it is still loading exits quietly (130)."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:
    sys.exit(130)

sys.exit(main())
