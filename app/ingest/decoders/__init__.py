"""Decoders turn raw Kafka message bytes into canonical events, or raise ``DecodeError``."""
