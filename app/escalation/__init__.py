"""OPEL escalation: a configurable profile, per-site computed and declared levels, hysteresis,
the system roll-up and an append-only history (PRODUCT.md §4, domain.md §1)."""
