"""The prompt lab, plain library code over the capabilities: sweeps (axes, variants,
plans, the runner), the run store (records), measurements of a run (measure,
compare), and what shows them (contact sheets, plots, reports). genlab.services is
how the CLI and the studio reach it.
"""
