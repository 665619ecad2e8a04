"""Search: BM25, dense search in FAISS, and their fusion into ranked passages."""
