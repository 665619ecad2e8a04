"""Service: the index's life for a corpus (lifecycle), the engine that answers, and the live index that takes writes."""
