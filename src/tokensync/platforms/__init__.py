"""The platforms: token endpoints (builtin.py) and polling adapters, a module per family."""
