"""vde — Voisin d'énergie: Flukso energy-community data platform."""

__version__ = "0.1.0"
