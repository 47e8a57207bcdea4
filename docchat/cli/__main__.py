"""``python -m docchat.cli``: the same as the ``docchat`` command."""

from docchat.cli import app

app(prog_name="docchat")
