"""Open GPT Studio: `python main.py [corpus file or folder | run folder]`."""

import sys

from gptstudio.ui import run_app

if __name__ == "__main__":
    sys.exit(run_app(sys.argv))
