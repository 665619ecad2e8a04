"""Encode: the embedding models (sentence-transformers, ONNX Runtime copies, multilingual-e5) that turn text into vectors."""
