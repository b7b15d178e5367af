# The one place the version is written: the build reads it (pyproject.toml,
# [tool.hatch.version]) and `unsync.__version__` imports it, at no cost.
__version__ = "2.0.0.dev0"
"""The version of unsync that is installed, as a string such as ``"2.0.0"`` (PEP 440)."""
