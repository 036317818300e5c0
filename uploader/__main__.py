"""`python -m uploader` and the `colony-uploader` console script."""

from __future__ import annotations

import sys

from uploader.cli import main

if __name__ == "__main__":
    sys.exit(main())
