"""tokensync: keep your users' OAuth tokens alive and poll their platform data, on a schedule."""

__version__ = "0.1.0"
