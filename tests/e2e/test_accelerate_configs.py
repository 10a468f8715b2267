"""The shipped accelerate configs launch for real (CPU here; GPU configs come with training)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import REPO


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


def test_fsdp_config_is_fsdp2_sharding_each_block() -> None:
    """fsdp.yaml as accelerate's launcher turns it into the environment of each process, and
    the plugin those processes build from it (launching needs GPUs; building the plugin not)."""
    probe = (
        "import os, sys\n"
        "from accelerate.commands.launch import launch_command_parser, _validate_launch_command\n"
        "from accelerate.utils.launch import prepare_multi_gpu_env\n"
        "args = launch_command_parser().parse_args(\n"
        "    ['--config_file', sys.argv[1], '--num_processes', '2', 'x.py'])\n"
        "os.environ.update(prepare_multi_gpu_env(_validate_launch_command(args)[0]))\n"
        "from accelerate.utils import FullyShardedDataParallelPlugin\n"
        "p = FullyShardedDataParallelPlugin()\n"
        "print(p.fsdp_version, p.reshard_after_forward, p.state_dict_type.name,\n"
        "      p.transformer_cls_names_to_wrap, p.auto_wrap_policy.__name__)\n"
    )
    config = REPO / "workflow" / "accelerate" / "fsdp.yaml"
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(config)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        "2", "True", "FULL_STATE_DICT", "['GPT2Block']", "transformer_auto_wrap_policy"
    ]  # fmt: skip
