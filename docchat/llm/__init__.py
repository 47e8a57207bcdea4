"""Language models: the ``ChatModel`` seam, its OpenAI-compatible and in-process implementations,
the configured models by name, and the prompts (as data)."""
