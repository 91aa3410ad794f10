"""``python -m cas_server.cli``: the same as ``cas-server``."""

from . import main

main()
