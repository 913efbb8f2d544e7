"""Plan adjusters: each module registers itself with ``@registry.hook``."""
