import sys
from pybench.cli import main
sys.exit(main())
