"""`python -m genie_robotics.cli`: the same as the `genie-robotics` script."""
import sys

from genie_robotics.cli.main import main

sys.exit(main())
