"""Login for people (sessions) and API tokens."""
