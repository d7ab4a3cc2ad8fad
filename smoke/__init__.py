"""The session lifecycle against a running deployment: `python -m smoke URL` (or `make smoke API=URL`).

See smoke.lifecycle for the steps.
"""
