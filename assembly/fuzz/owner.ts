// fuzz --cpus N: which CPU runs a slot's ops in segment k (tape.ts fuzzOwner),
// and so which slots a memcpy may pair (gen.ts). The slots turn through a
// cycle of 2N - 1 places, one of them CPU 0's and two each the others': CPU 0
// also generates the next segment while the CPUs run one, so it runs half the
// ops another CPU runs. Between two segments a slot moves one place on, so it
// changes CPU at most barriers (a cross-CPU use-after-free or double free).
// The slots go in pairs (s >> 1): the interpreter's slots are 32 bytes, two
// to a cache line, and a line whose two slots ran on different CPUs moved
// between the cores at every op on either (measured: 2%-3% of fuzz --cpus 2).
// @ts-ignore: decorator
@inline export function fuzzOwnerPeriod(cpus: u32): u32 { return 2 * cpus - 1; }
// @ts-ignore: decorator
@inline export function fuzzSlotPlace(slot: u32, k: u32, cpus: u32): u32 {
  // (a constant divisor for the common 2 CPUs: a multiply, not a division, per op)
  const pair = slot >> 1;
  return cpus == 2 ? (pair + k) % 3 : (pair + k) % fuzzOwnerPeriod(cpus);
}
// @ts-ignore: decorator
@inline export function fuzzSlotOwner(slot: u32, k: u32, cpus: u32): u32 { return (fuzzSlotPlace(slot, k, cpus) + 1) >> 1; }
