"""Fixtures shared by the whole suite live in tests/fixtures/, one module per kind of resource."""

pytest_plugins = [
    "pytester",
    "tests.fixtures.environment",
    "tests.fixtures.services",
    "tests.fixtures.databases",
    "tests.fixtures.sandboxes",
    "tests.fixtures.postbacks",
]
