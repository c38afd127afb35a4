"""Developer tools, not part of the installed gateway: the generator of ``docs/formats/*.md``
(``python -m tools.formatdoc --write``)."""
