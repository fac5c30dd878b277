"""`python -m auditkit ...`"""
import sys

from auditkit.cli import main

sys.exit(main())
