"""The shipped accelerate configs launch for real (CPU here; GPU configs come with training)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_cpu_config_launches(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(
        "from accelerate import Accelerator\n"
        "a = Accelerator()\n"
        "print('device', a.device.type, 'processes', a.num_processes)\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(REPO / "workflow" / "accelerate" / "cpu.yaml"),
            str(script),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "device cpu processes 1" in proc.stdout
