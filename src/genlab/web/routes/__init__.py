"""HTTP routes: thin adapters over the studio services."""
