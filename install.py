"""Post-install step run by ComfyUI-Manager: installs GenAssist's requirements. Idempotent, safe to re-run,
never touches torch (requirements.txt does not name it, and pip is told not to upgrade what is installed)."""

import logging
import os
import subprocess
import sys

log = logging.getLogger("GenAssist.install")


def main() -> int:
    requirements = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requirements.txt")
    # --upgrade-strategy only-if-needed: an installed package that satisfies the range is kept as is.
    cmd = [sys.executable, "-m", "pip", "install", "--upgrade-strategy", "only-if-needed", "-r", requirements]
    log.info("GenAssist: %s", " ".join(cmd))
    return subprocess.call(cmd)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
