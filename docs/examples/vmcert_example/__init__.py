"""The worked examples of docs/extending.md: a fact with its check, a reporter and a platform.

Each module is complete and is imported and run by tests/test_extending.py.
"""
