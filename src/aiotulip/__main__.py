import sys

from aiotulip.cli import main

# Guarded: process pools that spawn (Dask's LocalCluster) import the parent's __main__ again.
if __name__ == "__main__":
    status = main()
    # CPython remembers a KeyboardInterrupt that passed through any exec() of a string, even one
    # caught later (dataclasses and namedtuple make their methods so), and then ends `python -m` by
    # SIGINT whatever the status main decided. main ends by a signal itself when it means to (see
    # cli._end_by_signal); an exec that succeeds clears CPython's note for every other status.
    exec("")
    sys.exit(status)
