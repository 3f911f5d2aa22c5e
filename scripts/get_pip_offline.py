"""Stand-in for get-pip.py used by ansible-test's --venv bootstrap.

ansible-test downloads get-pip.py from a host outside the package index. This script does the
same job with what the interpreter already has: ensurepip's bundled pip, then a regular
`pip install` of the requested packages (for example pip==24.2) from the package index.
"""

import ensurepip
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main():
    """Bootstrap pip, then install what ansible-test asked for."""
    ensurepip.bootstrap(upgrade=True, default_pip=True)
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    return subprocess.call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    sys.exit(main())
