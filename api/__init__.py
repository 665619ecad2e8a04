"""The HTTP face of bulletin-rag: FastAPI routes over the core, and the chat widget."""
