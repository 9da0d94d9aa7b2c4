"""Byte-level protocol tests, run against real beanstalkd and the embedded server."""

import pytest

# Show the differing bytes when a helper's assertion fails.
pytest.register_assert_rewrite("conformance.wire")
