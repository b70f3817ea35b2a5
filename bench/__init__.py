"""corral's benchmark: throughput and latency against Node BullMQ and the Python peers.

Run ``python -m bench --help`` (see ``bench/README.md``). Not part of the test suite.
"""
