"""`make bench`: the service's hot paths measured side by side with the SignalWire SDK and with floors.

Kept import-free: `python -m bench.child` starts fresh processes for the cold-start and
memory cases, and whatever this file imports would be counted against both sides.
"""
