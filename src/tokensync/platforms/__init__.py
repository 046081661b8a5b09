"""The platforms: their token endpoints (builtin.py) and their polling adapters, one module a family."""
