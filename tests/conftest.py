pytest_plugins = ["pytester"]  # tests of tulip's own pytest plugin run pytest in a fresh process
