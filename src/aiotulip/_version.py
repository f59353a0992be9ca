# Read by hatchling at build time and by tulip at run time: importlib.metadata costs ~30 ms of start-up.
__version__ = "0.2.0"
