import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# The image matrix table printed at the end of a run (tests/support/matrix_report.py).
pytest_plugins = ["support.matrix_report"]
