from rendercli.cli.main import run

run()
