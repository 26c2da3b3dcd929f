"""The reconciliation engine: durable steps in PostgreSQL, claimed, run, retried and re-driven."""
