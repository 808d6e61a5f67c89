"""The audit log: every read of identifiable patient data (who, what, when)."""
