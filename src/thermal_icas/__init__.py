"""thermal-icas: config-driven ICAS screening experiments on facial thermal images."""

__version__ = "0.1.0"
