"""``python -m genrec_engine.cli``: the same as the ``genrec`` command."""
import sys

from . import main

sys.exit(main())
