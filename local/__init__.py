"""The local stack: the whole product on one machine, with moto's server as AWS.

The Chalice app lives in ``api/`` (Chalice's own layout, packaged as the Lambda
bundle), so its directory joins the import path here, as ``chalice local`` does.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# How often a serving thread looks for a stop: a stop waits at most this long for each
# server (socketserver's default, half a second, made every stop and restart slow).
STOP_POLL_SECONDS = 0.05
API_DIR = ROOT / "api"
if str(API_DIR) not in sys.path:
    sys.path.insert(0, str(API_DIR))
