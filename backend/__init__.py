"""mtserve backend: Megatest-style database servers, client, launcher and store.

This package never imports ``textual`` or ``mttui`` (a test checks ``sys.modules``).
"""

__version__ = "0.1.0"
