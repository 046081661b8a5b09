"""The two scheduled jobs, `refresh-tokens` (refresh_tokens.py) and `poll-platforms`
(poll_platforms.py), and what they share: the frame of a run (frame.py), the options an operator
gives (options.py), the results they return (results.py), their record in the runs table
(run_record.py) and why a selected connection was left alone (skipped.py)."""
