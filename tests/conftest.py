"""Fixtures shared by every test directory: the fake control plane and moto in server mode."""

pytest_plugins = ["tests.fakecluster.pytest_plugin", "tests.aws.moto_server"]
