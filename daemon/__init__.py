"""Dockyard: a GitOps platform controller for a container cloud on Kubernetes."""

__version__ = "0.1.0"
API_GROUP = "dockyard.dev"
API_VERSION = f"{API_GROUP}/v1alpha1"
