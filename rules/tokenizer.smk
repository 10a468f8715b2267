# tokenizer: placeholder until its stage lands.
