"""`python -m tokensync` is the same program as `tokensync`."""

from tokensync.cli.main import run

if __name__ == "__main__":
    run()
