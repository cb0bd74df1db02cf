#!/usr/bin/env bash
# Make the real dxchange (Debian's python3-dxchange, pure Python) importable
# in the Python that runs this script (e.g. an active virtual environment).
#
# PyPI's package named "dxchange" is an unrelated project: never pip-install it.
# dxchange's own imports (h5py, pandas, six, scipy, and a tifffile that still
# has imsave) come with: pip install 'tomopy-dl[dxchange]'.
set -euo pipefail
PY="${PYTHON:-python}"
SRC=/usr/lib/python3/dist-packages/dxchange

if [ ! -f "$SRC/__init__.py" ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
    # A fresh machine may have no package lists yet.
    $SUDO apt-get install -y -qq python3-dxchange >/dev/null 2>&1 \
        || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-dxchange >/dev/null; }
fi

# Link only the dxchange package, not all of Debian's dist-packages, whose
# compiled modules may not match this Python.
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
ln -sfn "$SRC" "$SITE/dxchange"
"$PY" -c "import dxchange, dxchange.reader, dxchange.writer; print('dxchange importable from', dxchange.__file__)"
