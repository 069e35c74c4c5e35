"""Layer 3: the experiments the notebooks run.

Each module is one lesson's measurement, built on :mod:`wslab.net` (I/O) and
:mod:`wslab.protocol` (bytes): the push comparison (00), the handshake by hand
(01), heartbeat detection (05), the thundering herd (06), compression and
subprotocols (08), the GIL and latency lab and the short peers comparison (10).
The full peers benchmark is not installed: it lives in the repository's
``bench/peers``.  Nothing in ``wslab.net`` imports from here.
"""

from .by_hand import Transcript, handshake_by_hand

__all__ = ["Transcript", "handshake_by_hand"]
