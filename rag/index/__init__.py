"""Index: what a generation is (manifest), what to do with it (plan), building, storing and checking it."""
