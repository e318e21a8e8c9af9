"""Shared fixtures."""

# private servers for end-to-end tests: mosquitto_broker, postgres_server, postgres_url
pytest_plugins = ["tests.fixtures.mosquitto", "tests.fixtures.postgres"]
