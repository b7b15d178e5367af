"""unsync 1.4.0's module path: ``from unsync.unsync import unsync, Unfuture`` keeps working.

The names here are the package's own objects; new code imports them from
``unsync`` directly.
"""

from ._decorator import Unsync, unsync
from ._future import Unfuture

__all__ = ["Unfuture", "Unsync", "unsync"]
