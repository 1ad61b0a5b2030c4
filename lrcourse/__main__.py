"""``python -m lrcourse ...`` is the ``lrcourse`` command."""
import sys

from lrcourse.cli import main

sys.exit(main())
