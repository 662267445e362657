"""``python -m adain.cli`` (and ``torchrun ... -m adain.cli``): the ``adain`` command."""

import sys

from adain.cli import main

sys.exit(main())
