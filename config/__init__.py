"""Deployment configuration: ``regions.toml`` (the regions, their rules and formats) read into
frozen settings by :mod:`config.settings`."""
