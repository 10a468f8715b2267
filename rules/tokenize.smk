# tokenize: placeholder until its stage lands.
