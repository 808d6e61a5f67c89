"""The flow engine: live metrics per site and for the economy, driven by commits and by time."""
