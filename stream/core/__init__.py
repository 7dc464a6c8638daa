"""Pure core: sketches, measures, decisions. No I/O; imports stdlib, numpy and scipy only."""
