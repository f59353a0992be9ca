import sys

from aiotulip.cli import main

# Guarded: process pools that spawn (Dask's LocalCluster) import the parent's __main__ again.
if __name__ == "__main__":
    status = main()
    # CPython remembers a KeyboardInterrupt that passed through any exec() of a string, even one
    # caught later, and then ends `python -m` by SIGINT (-2) whatever the status: a Ctrl-C landing
    # while dataclasses or namedtuple made their methods (exec) printed "interrupted", then -2.
    # An exec that succeeds clears it.
    exec("")
    sys.exit(status)
