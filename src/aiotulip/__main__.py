import sys

from aiotulip.cli import main

# Guarded: process pools that spawn (Dask's LocalCluster) import the parent's __main__ again.
if __name__ == "__main__":
    sys.exit(main())
