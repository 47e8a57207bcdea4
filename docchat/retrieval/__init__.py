"""Finding passages: full-text, vectors, fusion and reranking."""
