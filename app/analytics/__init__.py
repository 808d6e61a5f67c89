"""Analytics: trends, statistical process control and forecasts over the metric samples."""
