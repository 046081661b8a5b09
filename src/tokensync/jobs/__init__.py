"""The two jobs: refresh-tokens and poll-platforms."""
