pytest_plugins = ["tests.fakecluster.pytest_plugin"]
