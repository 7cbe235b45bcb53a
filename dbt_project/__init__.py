"""ivcrush: the kernel of the platform (settings, workspace, errors, the 2.0 source, builds, data quality).

This folder is both the dbt project and the root package `ivcrush`; the layers above it are mapped into
the same namespace (`ivcrush.feature_repo`, `ivcrush.training`, `ivcrush.serving`, `ivcrush.cli`).
"""

__version__ = "0.1.0"
