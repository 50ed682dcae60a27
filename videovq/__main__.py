import sys

from videovq.cli import main

sys.exit(main())
