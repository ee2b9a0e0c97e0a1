"""Video sources: in-process synthetic robot scenes (and, later, RLDS and MuJoCo)."""
