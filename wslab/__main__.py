"""``python -m wslab``: the command line (``serve``, ``notebooks``; see wslab/cli/).

``python -m wslab serve --port 8080`` is the classic ``node server.js`` of WebSocket
tutorials: the same LabServer as in the notebooks, in a terminal.  ``python -m wslab
notebooks ~/wslab`` copies the course into a student's folder.
"""

from __future__ import annotations

import sys

from .cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
