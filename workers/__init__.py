"""Dramatiq workers: thin actors that call engine services, plus the scheduler."""
