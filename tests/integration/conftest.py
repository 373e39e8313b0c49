"""The integration tier: moto in-process for AWS, the provider sink as a real HTTP server (tests/support)."""

from tests.support.integration_stack import sink, stack

__all__ = ["sink", "stack"]
