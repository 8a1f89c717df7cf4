"""Metabase as the project talks to it: settings, the REST client, versions, and what the
saved questions read. Below the views, so a view's rebuild can ask who reads it."""
