"""``python -m tools.formatdoc --write | --check``."""
import sys

from tools.formatdoc import main

sys.exit(main())
