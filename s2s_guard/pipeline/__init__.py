"""The decision pipeline, written once: bearer → route → verify → claims → principal → sender → policy.

:class:`Pipeline` (:mod:`.decision`) runs the steps in order; each step lives with its concern:

- :mod:`.routing`: RFC 6750 extraction and the issuer a token routes to (or introspection);
- :mod:`.checks`: signature, claims, principal and delegation, for fresh JWTs, introspection
  answers and shared-cache records alike;
- :mod:`.drive`: the I/O the steps ask for, as data, and the blocking and async drivers;
- :mod:`s2s_guard.telemetry.observer`: the hooks telemetry listens on (nobody, by default).

:class:`~s2s_guard.guard.Guard` builds the parts and drives the flows; start reading there.
"""

from __future__ import annotations

from .checks import Checks
from .decision import Pipeline
from .drive import IO, Flow, arun, run
from ..telemetry.observer import Observation, Observer
from .routing import Routed, Router

__all__ = ["IO", "Checks", "Flow", "Observation", "Observer", "Pipeline", "Routed", "Router", "arun", "run"]
