"""/audit: the event log read back for moderators."""
