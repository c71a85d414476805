"""The prompt lab: grids and contact sheets now; sweeps, records and reports later."""
