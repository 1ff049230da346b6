"""Every registered built-in algorithm against the conformance suite (shipyard.testing.algorithm)."""

from shipyard.testing.algorithm import *  # noqa: F401,F403
