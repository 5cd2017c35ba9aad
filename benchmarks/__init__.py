"""Reproducible measurements of rayflow beside the tools users would otherwise use."""
