# dedup: placeholder until its stage lands.
