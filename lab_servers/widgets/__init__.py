"""Interactive widgets (ipywidgets). Imported only on demand: `import lab_servers` and the views
never load ipywidgets, so a script or a test that needs no widget stays fast.

    from lab_servers.widgets import HandshakeStepper
    HandshakeStepper(lab)        # displays itself; or `.widget` to place it in a layout
"""

from .stepper import HandshakeStepper

__all__ = ["HandshakeStepper"]
