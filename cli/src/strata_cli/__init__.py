"""The `strata` command: run the stack, manage the database, talk to the API."""
