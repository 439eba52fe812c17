"""Render (pure): the validated platform model to Kubernetes objects.

``render(model, revision)`` returns plain JSON-compatible dicts, ordered by apply stage, each
carrying Dockyard's ownership labels and annotations that say where it came from. Nothing here
talks to a cluster; the same model and revision always give the same objects.
"""

from __future__ import annotations

from daemon.render.core import KubeObject, render
from daemon.render.meta import objref

__all__ = ["KubeObject", "objref", "render"]
