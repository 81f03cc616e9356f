"""`import learnedmin` stays light: no torch, no training subpackage, until first use."""

import subprocess
import sys


def _run(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_does_not_load_torch_or_training():
    code = (
        "import sys, learnedmin\n"
        "print('torch' in sys.modules, 'learnedmin.training' in sys.modules,"
        " 'learnedmin.network' in sys.modules, 'scipy.optimize' in sys.modules)"
    )
    assert _run(code) == "False False False False"


def test_torch_is_loaded_on_first_call():
    code = (
        "import sys\n"
        "from scipy.optimize import minimize\n"
        "from learnedmin import learned\n"
        "before = 'torch' in sys.modules\n"
        "minimize(lambda x: (x ** 2).sum(), [1.0, 2.0], method=learned)\n"
        "print(before, 'torch' in sys.modules, 'learnedmin.training' in sys.modules)"
    )
    assert _run(code) == "False True False"
