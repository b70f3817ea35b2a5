"""The shop app: orders, whose confirmation emails a corral worker sends."""
