"""Layer 3 (labs): the peers benchmark behind ``python -m wslab bench`` and notebook 10.

wslab's server against bare Tornado, ``websockets`` and Node ``ws``, each measured
the same way by wire-level clients.
"""

from .runner import (
    BASELINE,
    BIG,
    PEERS,
    SMALL,
    BenchConfig,
    BenchResults,
    measure,
    percentile,
    run_peers,
    run_targets,
)

__all__ = ["BASELINE", "BIG", "PEERS", "SMALL", "BenchConfig", "BenchResults", "measure",
           "percentile", "run_peers", "run_targets"]
