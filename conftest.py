# Real local components (Tansu, embedded PostgreSQL) as pytest fixtures, shared by all tests.
pytest_plugins = ["callscope_core.testing"]
