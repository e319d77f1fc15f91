"""``python -m a2lib run ...`` is the same as ``a2lib run ...``."""
import sys

from .workbook import main

sys.exit(main())
