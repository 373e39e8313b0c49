"""The e2e tier: the whole local stack on free ports, driven over real HTTP (tests/support)."""

from tests.support.local_stack_process import local_stack, stack

__all__ = ["local_stack", "stack"]
