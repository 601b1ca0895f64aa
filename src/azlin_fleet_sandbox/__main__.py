"""``python -m azlin_fleet_sandbox`` = ``azlin-fleet-sandbox``."""

from __future__ import annotations

import sys

from azlin_fleet_sandbox.cli import main

sys.exit(main())
