"""Data access: each record kind read and written in one module, in plain SQL over Rows."""
