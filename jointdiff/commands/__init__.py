"""One module per `jointdiff` subcommand: `add_arguments(parser)` and `run(args)`."""
