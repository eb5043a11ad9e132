"""Data access: one module per record kind, plain SQL over `rendercli.db.rows.Rows`."""
