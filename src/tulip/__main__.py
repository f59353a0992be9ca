import sys

from tulip.cli import main

sys.exit(main())
