"""text -> ids: bytes, characters, byte-level BPE; versioned JSON save/load."""
