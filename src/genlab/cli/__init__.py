"""The command line: thin typer commands, one module per command group. Each parses
its flags, calls genlab.services (and core's request types), and renders the result
with rich; tests/test_architecture.py keeps it from importing anything lower.
"""
