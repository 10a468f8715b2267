"""gpt2zh: build a Chinese pretraining corpus and train a GPT-2 on it."""

__version__ = "0.1.0"
