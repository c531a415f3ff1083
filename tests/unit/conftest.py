"""Unit tests run with the network disabled: any socket use fails the test."""

import pytest


@pytest.fixture(autouse=True)
def _no_network(socket_disabled):
    yield
