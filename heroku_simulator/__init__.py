"""A local Heroku: the Platform API, the Postgres data API, git over HTTPS and one-off dynos
with rendezvous, faithful to Heroku's official API schema (heroku-platform-api-schema.json,
copied here). `make demo` runs herokucd against it offline; the test suite runs against it.

`python -m heroku_simulator --port PORT --state STATE.json [--data-dir DIR]`."""
