"""Fixtures shared by every test directory: the fake control plane and moto in server mode.

Hypothesis runs derandomized (a fixed seed per test, no example database): the same examples on
every run and every machine, so the suite cannot pass one run and fail the next. To hunt for new
examples locally: HYPOTHESIS_PROFILE=explore python -m pytest tests/unit; any failure it finds
goes into the test as an @example.
"""

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

pytest_plugins = ["tests.fakecluster.pytest_plugin", "tests.aws.moto_server"]
