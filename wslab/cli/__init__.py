"""The command line, ``python -m wslab`` (top layer): ``main`` (the commands),
``serve_options`` (``serve``'s options made from ServerOptions' fields) and ``env`` (a
one-line message when wslab's dependencies are missing; standard library only, so this
package imports nothing on its own).
"""
