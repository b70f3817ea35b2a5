"""A small shop: orders are taken by the web app and receipts sent by a corral worker."""
