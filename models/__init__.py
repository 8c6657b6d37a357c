"""The shipped students (installed as the package ``mineshaft_models``; see README.md)."""
