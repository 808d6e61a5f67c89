"""The Anyborough simulator: realistic feeds into Kafka for the demo, browser tests and benches."""
