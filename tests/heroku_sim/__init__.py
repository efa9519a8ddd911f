"""Pytest fixtures of the Heroku simulator (heroku_simulator/): `fixtures` is a pytest plugin."""
