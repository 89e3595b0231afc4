"""Hypothesis profiles for the fuzz tests: fast by default, long with ``S2S_FUZZ=1`` (``make fuzz``).

The example database lives in ``.hypothesis/`` (git-ignored), so a failure found once is
replayed first on the next run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("s2s-fast", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("s2s-fuzz", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("s2s-fuzz" if os.environ.get("S2S_FUZZ") == "1" else "s2s-fast")
