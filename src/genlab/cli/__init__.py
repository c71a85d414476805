"""The command line: thin typer commands over genlab.services."""
