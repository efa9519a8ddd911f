"""The reliability suite reuses the engine's and the triggers' fixtures (imported, not copied)."""

import pytest

from tests.deploys.conftest import credential, environment, queue, redis_up, sim  # noqa: F401
from tests.triggers.conftest import deliver, endpoint  # noqa: F401


def pytest_collection_modifyitems(items):
    """Every test here starts real processes or runs hundreds of examples: all are slow."""
    for item in items:
        if "tests/reliability/" in str(item.fspath):
            item.add_marker(pytest.mark.slow)
