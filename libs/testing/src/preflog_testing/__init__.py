"""pytest plugin and infrastructure choice for Preflog tests."""
