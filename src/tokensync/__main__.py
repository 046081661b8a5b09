"""`python -m tokensync` is the same program as `tokensync`."""

from tokensync.cli import main

if __name__ == "__main__":
    main()
