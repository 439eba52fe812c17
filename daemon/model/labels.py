"""The labels and annotations Dockyard puts on every object it owns."""

from __future__ import annotations

from daemon import API_GROUP

MANAGED_BY = "app.kubernetes.io/managed-by"


MANAGER_NAME = "dockyard"


TENANT_LABEL = f"{API_GROUP}/tenant"


APP_LABEL = f"{API_GROUP}/app"


TRACK_LABEL = f"{API_GROUP}/track"


#: The ``Kind/name`` of the document an object was rendered from (its tenant is a label).
SOURCE_ANNOTATION = f"{API_GROUP}/source"


REVISION_ANNOTATION = f"{API_GROUP}/revision"


DELETION_POLICY_ANNOTATION = f"{API_GROUP}/deletion-policy"


#: Annotations that record provenance only; a difference in them alone is not drift.
PROVENANCE_ANNOTATIONS: frozenset[str] = frozenset({REVISION_ANNOTATION})
