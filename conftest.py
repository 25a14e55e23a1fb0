"""Root conftest: intentionally thin. The fixtures live in the ``tenant_harness.plugin`` pytest plugin,
registered through the ``pytest11`` entry point when the package is installed."""
