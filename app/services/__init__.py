"""Domain logic: plain modules that the admin, the API, the CLI and the jobs all call."""
