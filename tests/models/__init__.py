"""Tests of the schema, migrations and database engine."""
