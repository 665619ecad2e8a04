"""bulletin-rag: cited extractive answers over a corpus of news bulletins."""

__version__ = "0.1.0"
