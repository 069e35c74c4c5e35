"""Layer 4 (exercises): model solutions, one module per notebook (``ex01`` ...).

Never imported by a notebook cell that Run All executes; see
:mod:`wslab.exercises._solutions`.
"""
