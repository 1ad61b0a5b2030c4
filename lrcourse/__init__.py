"""lrcourse: learning rates and learning-rate schedules, hands on.

The public names are re-exported here once their modules exist; import from the
submodules (``lrcourse.schedules``, ``lrcourse.training``, ...) inside the package.
"""

__version__ = "0.1.0"
