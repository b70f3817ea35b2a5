"""One driver per contender. Each runs in its own process, speaks the protocol in
:mod:`bench.peers.proto` and imports only its own library."""
