"""Data access: one module per record kind, the one home of its SQL and ownership rules."""
