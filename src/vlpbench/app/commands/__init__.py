"""One module per `bench` subcommand, each with `main(args, console) -> int`; the CLI imports only
the one it runs, so a light command (leaderboard, status, list) does not pay for the others' imports."""
