"""The platforms: token endpoints (catalog.py) and polling adapters, a module per family."""
