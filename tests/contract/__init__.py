"""The backend contract (``corral/backends/base.py``), asserted on every backend
with a driven clock; README.md maps the older per-backend tests onto these."""
