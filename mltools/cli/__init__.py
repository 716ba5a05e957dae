"""The Typer layer: parses options, calls the library, renders the result.

Modules here import only typer and the standard library at import time, so that
``mltools --help`` and TAB completion stay fast; each command imports the
library (and its heavy dependencies) inside its own body.
"""
