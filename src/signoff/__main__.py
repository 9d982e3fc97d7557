"""``python -m signoff``: the same command as ``signoff`` (the tests start the service so)."""

from signoff.cli import main

main()
