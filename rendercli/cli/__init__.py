"""The command line: one Typer sub-app per noun. Commands parse, call a service, print."""
