import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
# the plugin catalog of this test session (and of the `bench` processes it starts), not the user's
os.environ["VLPBENCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="vlpbench-test-cache-")
atexit.register(shutil.rmtree, os.environ["VLPBENCH_CACHE_DIR"], ignore_errors=True)
sys.path.insert(0, str(Path(__file__).parent))
