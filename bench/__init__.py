"""The repository's benchmarks (not installed with wslab): ``bench.peers`` and scripts."""
