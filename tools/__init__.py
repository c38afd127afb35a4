"""Developer tools, never installed with the product: the generator of ``docs/formats/*.md``
(``python -m tools.formatdoc --write``)."""
