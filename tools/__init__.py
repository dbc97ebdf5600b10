"""Scripts the Makefile runs."""
