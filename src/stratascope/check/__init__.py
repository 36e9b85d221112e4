"""`stratascope check`: the checklist an admin runs before adopting a storage back end."""

from .model import FAIL, PASS, WARN, CheckItem
from .runner import check, run_check

__all__ = ["FAIL", "PASS", "WARN", "CheckItem", "check", "run_check"]
