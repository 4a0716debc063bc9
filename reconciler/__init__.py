"""Declarative plan/apply reconciler for Microsoft Graph's SharePoint cross-tenant migration API.

``__version__`` is the one place the version is written (pyproject.toml reads it); plan files and the
state record it. ``DISTRIBUTION`` is the name on PyPI (``reconciler`` there is another project), used
in the install hints of missing extras; ``DOCS_URL`` is where a wheel user reads the documentation of
the version they run.
"""

__version__ = "0.2.0"
DISTRIBUTION = "spo-xtenant-reconciler"
DOCS_URL = f"https://github.com/spo-xtenant-reconciler/reconciler/blob/v{__version__}"
