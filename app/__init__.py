"""Flow Command Centre: a live operational view of a whole health and social care economy."""
