"""Distro builders: each module registers itself with ``@registry.distro``.

Adding a distro is one new file here (plus its tests); nothing else changes.
"""
