import sys

from microbss.cli import main

sys.exit(main())
