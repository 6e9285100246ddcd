"""``python -m clinops_async``: the ``clinops-async`` command line."""

from .cli import main

main()
