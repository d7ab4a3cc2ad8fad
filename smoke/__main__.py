import sys

from .lifecycle import main

sys.exit(main(sys.argv[1:]))
