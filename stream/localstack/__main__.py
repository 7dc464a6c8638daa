"""``python -m stream.localstack prepare|up|down|status``."""

from __future__ import annotations

import sys

from ._commands import run

if __name__ == "__main__":
    sys.exit(run())
