"""Everything tokensync shows: JSON documents, tables, progress, metrics, pings, summaries."""
