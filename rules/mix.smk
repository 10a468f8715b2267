# mix: placeholder until its stage lands.
