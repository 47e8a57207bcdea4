"""Answering: a question in a session → passages → a grounded answer with checked citations."""
