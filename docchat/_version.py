"""docchat's version, in a module of its own: the faces that report it (the OpenAPI document,
the MCP server) read it from here, not from ``docchat``, whose ``__init__`` names every layer."""

__version__ = "0.1.0"
