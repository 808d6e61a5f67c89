"""Pure rules (no I/O): ADT folding, wait bands, OPEL scoring. Dataclasses and functions only."""
