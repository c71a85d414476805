"""Service functions: what the CLI and the web app both call. No logic lives only
in an adapter; adapters parse input, call these, and render the output."""
