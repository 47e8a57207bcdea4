"""docchat as a Model Context Protocol server: its tools for assistants (``server.py``).

``docchat mcp`` serves them over stdin/stdout; ``docchat serve`` also at ``/mcp`` (streamable
HTTP, ``docchat.api.mcp``).
"""

from docchat.mcp.server import build_server

__all__ = ["build_server"]
