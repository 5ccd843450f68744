"""torch_python: make sure a script runs under an interpreter that can import torch.

Debian's python3-torch imports only under /usr/bin/python3; a `python3` found first on
PATH may be another build that cannot see it.  A script that needs torch calls
`require_torch(__file__)` before importing it: when torch does not import, the script is
executed again with $PYTHON (default /usr/bin/python3) and the same arguments, once (an
environment variable naming the script stops a second attempt); if that interpreter is
the one running already, or the second attempt fails too, it prints why and exits 2.
Standard library only.
"""

import os
import sys

DEFAULT_PYTHON = "/usr/bin/python3"
_MARK = "_ATTNCC_TORCH_REEXEC"


def require_torch(script):
    """Return when `import torch` works here; else re-execute `script` or exit 2."""
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    script = os.path.abspath(script)
    python = os.environ.get("PYTHON", DEFAULT_PYTHON)
    if os.path.realpath(python) != os.path.realpath(sys.executable) and os.environ.get(_MARK) != script:
        os.environ[_MARK] = script
        os.execv(python, [python, script] + sys.argv[1:])
    sys.stderr.write("%s: cannot import torch with %s; run it with %s or set PYTHON\n"
                     % (os.path.basename(script), sys.executable, DEFAULT_PYTHON))
    sys.exit(2)
