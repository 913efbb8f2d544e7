import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# The image matrix table printed at the end of a run (tests/support/matrix_report.py),
# and the zipapp built once for the tests of it (tests/pyz_build.py).
pytest_plugins = ["support.matrix_report", "pyz_build"]
