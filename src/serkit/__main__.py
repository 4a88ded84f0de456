"""``python -m serkit``: the ``serkit`` command (needed by ``torchrun -m serkit train ...``)."""

import sys

from serkit.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
