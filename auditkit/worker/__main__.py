"""`python -m auditkit.worker`: the model worker process (started by `auditkit.worker.client`)."""
import sys

from auditkit.worker.server import main

sys.exit(main())
