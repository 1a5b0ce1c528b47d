"""Loads Telltale's Gherkin suite (fixtures and step vocabulary) for every pytest run here."""

pytest_plugins = ["fixtures.plugin"]
