"""The command line: one module per command group, each a thin layer that reads options, calls
the capability below, and prints one JSON document with the documented exit code."""
