"""cpwatch: out-of-band diagnosis of Kubernetes control planes."""

__version__ = "0.1.0"
