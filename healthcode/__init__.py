"""Health-code issuance and cross-region interop gateway.

The public surface is small on purpose:

* :func:`healthcode.verify.Verifier` turns any supported QR text into one verdict;
* :mod:`healthcode.issuers` signs a person's status in a region's native format;
* :func:`healthcode.gateway.create_app` is the Flask service;
* :mod:`healthcode.cli` is the ``healthcode`` command.
"""

__version__ = "0.1.0"
STANDARD_VERSION = "1.0"
