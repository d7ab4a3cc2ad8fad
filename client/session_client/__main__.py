"""`python -m session_client`: the `swaig-session` command."""

import sys

from .cli import main

sys.exit(main())
