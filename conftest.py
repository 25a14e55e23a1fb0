"""Root conftest: thin. The fixtures live in the ``tenant_harness.plugin`` pytest plugin, registered
through the ``pytest11`` entry point when the package is installed. What is this project's own policy
(and not imposed on projects that install the plugin) is set here and in pytest.ini."""

import os

from hypothesis import settings

# Hypothesis profiles by HYPOTHESIS_PROFILE: dev (default, quick), ci (more examples).
settings.register_profile("dev", max_examples=50)
settings.register_profile("ci", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
