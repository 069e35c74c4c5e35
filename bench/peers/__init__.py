"""The peers benchmark (``python -m bench.peers`` from the repository root).

wslab's server against bare Tornado, ``websockets`` and Node ``ws``, each measured
the same way by wire-level clients.  Not part of the installed package: it reads
``bench/node_ws_server.js`` and ``.cache/node`` and writes ``bench/results``;
notebook 10's short comparison is :func:`wslab.labs.peers.compare_echo`.

Modules: :mod:`.records` (configuration, records, the table), :mod:`.wire` (the
wire-level clients), :mod:`.targets` (the servers and child processes),
:mod:`.runner` (rounds and the runs), :mod:`.report` (the figure and the files).
"""

from wslab.labs.stats import percentile

from .records import (
    BASELINE,
    BIG,
    PEERS,
    SMALL,
    BenchConfig,
    BenchResults,
    BroadcastRecord,
    EchoRecord,
    MemoryRecord,
    ThroughputRecord,
)
from .runner import DEFAULT_OUT, measure, run_peers, run_targets
from .targets import NODE_CACHE, Target, node_peer

__all__ = ["BASELINE", "BIG", "DEFAULT_OUT", "NODE_CACHE", "PEERS", "SMALL", "BenchConfig",
           "BenchResults", "BroadcastRecord", "EchoRecord", "MemoryRecord", "Target",
           "ThroughputRecord", "measure", "node_peer", "percentile", "run_peers", "run_targets"]
