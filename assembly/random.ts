// One seeded generator for every random choice the engine makes (tags, KFENCE
// placement, fault injection), so a seed reproduces a run exactly.
let state: u64 = 0x9e3779b97f4a7c15;

export function randomSeed(seed: u64): void {
  state = seed ^ 0x9e3779b97f4a7c15;
  if (state == 0) state = 1;
  for (let i = 0; i < 4; i++) randomU64();
}

// xorshift64*: the step, for generators of their own (test modules keep theirs
// apart from the engine's, so their work does not move the engine's choices)
// @ts-ignore: decorator
@inline export function xorshiftStep(x: u64): u64 {
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  return x;
}
export function randomU64(): u64 {
  state = xorshiftStep(state);
  return state * 0x2545f4914f6cdd1d;
}

// uniform in [0, n)
export function randomBelow(n: u32): u32 {
  return <u32>(((randomU64() >> 32) * <u64>n) >> 32);
}
