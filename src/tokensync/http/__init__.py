"""HTTP: the client and its transport, failures classified, answers read with bounds."""
