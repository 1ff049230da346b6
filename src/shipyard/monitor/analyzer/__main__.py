"""``python -m shipyard.monitor.analyzer``: the model-monitor analyzer program (see :mod:`.program`)."""

import sys

from .program import main

sys.exit(main())
