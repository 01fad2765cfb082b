import sys

from hakari.cli import main

sys.exit(main())
