"""Kafka consumers: poll -> decode -> apply in ONE transaction with the offsets -> commit."""
