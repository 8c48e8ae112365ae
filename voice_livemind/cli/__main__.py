import contextlib
import sys

from .main import main

with contextlib.suppress(BrokenPipeError):
    sys.exit(main())
