"""Helpers the tests share (fixtures stay in ``tests/conftest.py``): live servers, the CLI, a
settable clock, polling, DCC issuing, the browser and the markers a helper's use implies."""
