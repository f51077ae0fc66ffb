"""The `bench` command line and the commands behind it (speed, studies, plots, scaffolding, data)."""
