"""Documents in: parsing, chunking, the registry and incremental ingestion."""
