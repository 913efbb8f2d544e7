"""Write a bare-metal server's network configuration into a target root filesystem."""

__version__ = "2.0.0"
