"""Layer 3: ipywidgets panels and matplotlib plots (presentation only)."""
