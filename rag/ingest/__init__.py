"""Ingest: read corpus files, split them into bulletins, sentences and token chunks, extract text from PDF, HTML and Word."""
