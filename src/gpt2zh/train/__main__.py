"""`accelerate launch -m gpt2zh.train ARGS` = `gpt2zh train ARGS` in every launched process."""

import sys

from gpt2zh.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
