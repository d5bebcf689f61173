// fuzz --cpus N: which CPU runs a slot's ops in segment k (the generator's
// lists of each CPU's ops, rounds.ts), and so which slots a memcpy may pair (gen.ts).
//
// The slots go in pairs (s >> 1): the interpreter's slots are 32 bytes, two to
// a cache line, and a line whose two slots ran on different CPUs moves between
// the cores at every op on either (measured: 2%-3% of fuzz --cpus 2). A pair
// whose pair & 7 is 7 is a victim pair: the generator puts only planted
// scenarios' victims there, and it changes CPU at every barrier ((pair + k)
// mod N), so a scenario that spans a barrier is a cross-CPU use-after-free or
// double free. Every other pair moves one place on a cycle every 8 barriers,
// staggered by pair & 7: an object that changes CPU moves its lines to the
// other core and is freed into the other CPU's slab, and handing every slot on
// at every barrier ran 2-CPU units about 7% slower without KASAN (docs/fuzz.md).
//
// The cycle has `cpu0` places for CPU 0 and `other` for each other CPU. CPU 0
// also generates the next segment while the CPUs run one, so it runs fewer
// ops: the host gives it a fifth of them on 2 CPUs without KASAN and two
// fifths under it, where the ops weigh more next to generating.
import { FUZZ_GEN } from "../statics";
import { FZ_MAX_CPUS } from "../../abi/abi";

// @ts-ignore: decorator
@inline const OWNER: usize = FUZZ_GEN + 0x8a000;
// @ts-ignore: decorator
@inline const OWNER_CPUS: usize = OWNER;         // u32: N (0: not set up)
// @ts-ignore: decorator
@inline const OWNER_SHARES: usize = OWNER + 4;   // u32: CPU 0's places | each other CPU's << 8
// @ts-ignore: decorator
@inline const OWNER_PLACES: usize = OWNER + 8;   // u32: the cycle's length
// @ts-ignore: decorator
@inline const PLACE_CPU: usize = OWNER + 64;     // u8 x OWNER_MAX_PLACES: the CPU at each place
// pair -> (pair mod the cycle) | (pair mod N) << 8, for the pairs of FZ_MAX_SLOTS slots
// @ts-ignore: decorator
@inline const PAIR_MODS: usize = OWNER + 128;
// @ts-ignore: decorator
@inline const PAIRS: u32 = 8192;
// @ts-ignore: decorator
@inline export const OWNER_MAX_SHARE: u32 = 4;
// @ts-ignore: decorator
@inline const OWNER_MAX_PLACES: u32 = 64;
// @ts-ignore: decorator
@inline const VICTIM_PHASE: u32 = 7;

/** A rule the tables and fuzzSlotOwner take: 2..FZ_MAX_CPUS CPUs, 1..4 places each. */
export function fuzzOwnerValid(cpus: u32, cpu0: u32, other: u32): bool {
  return cpus >= 2 && cpus <= <u32>FZ_MAX_CPUS && cpu0 >= 1 && cpu0 <= OWNER_MAX_SHARE && other >= 1 && other <= OWNER_MAX_SHARE;
}
// @ts-ignore: decorator
@inline function cyclePlaces(cpus: u32, cpu0: u32, other: u32): u32 { return cpu0 + (cpus - 1) * other; }
// @ts-ignore: decorator
@inline function cpuAtPlace(place: u32, cpu0: u32, other: u32): u32 { return place < cpu0 ? 0 : 1 + (place - cpu0) / other; }

/**
 * The rule itself: the CPU that runs slot's ops in segment k on `cpus` CPUs
 * with `cpu0` places for CPU 0 and `other` for each other CPU (a valid rule).
 * The interpreter uses tables of it (fuzzSlotOwnerIn).
 */
export function fuzzSlotOwner(slot: u32, k: u32, cpus: u32, cpu0: u32, other: u32): u32 {
  const pair = (slot >> 1) & (PAIRS - 1);
  const phase = pair & 7;
  if (phase == VICTIM_PHASE) return (pair % cpus + k % cpus) % cpus;
  const places = cyclePlaces(cpus, cpu0, other);
  return cpuAtPlace((pair % places + ((k + phase) >> 3) % places) % places, cpu0, other);
}

/**
 * Set up the interpreter's tables for `cpus` CPUs with `cpu0` places for
 * CPU 0 and `other` for each other CPU (1..4): the generator does, for its
 * stream. False when out of range.
 */
export function fuzzOwnerSetup(cpus: u32, cpu0: u32, other: u32): bool {
  if (!fuzzOwnerValid(cpus, cpu0, other)) return false;
  if (load<u32>(OWNER_CPUS) == cpus && load<u32>(OWNER_SHARES) == (cpu0 | other << 8)) return true;
  const places = cyclePlaces(cpus, cpu0, other);
  for (let p: u32 = 0; p < places; p++) store<u8>(PLACE_CPU + <usize>p, <u8>cpuAtPlace(p, cpu0, other));
  for (let pair: u32 = 0; pair < PAIRS; pair++) store<u16>(PAIR_MODS + (<usize>pair << 1), <u16>((pair % places) | ((pair % cpus) << 8)));
  store<u32>(OWNER_PLACES, places);
  store<u32>(OWNER_SHARES, cpu0 | other << 8);
  store<u32>(OWNER_CPUS, cpus);
  return true;
}
/** The CPUs the tables are set up for (0: none). */
// @ts-ignore: decorator
@inline export function fuzzOwnerCpus(): u32 { return load<u32>(OWNER_CPUS); }

/**
 * The slot whose CPU runs the tick that is op `op` of the stream: an ordinary
 * slot hashed from the op, so that each CPU runs its share of the ticks as of
 * the workload's ops. A tick advances the clock KFENCE samples by, and the
 * allocation after it is usually on the CPU that ran it: with every tick on
 * CPU 0 (before 2026-12-07, late), KFENCE sampled CPU 0's allocations, and so
 * planted victims, which are on CPU 0 half the time, caught 12.4% of CPU 0's
 * victims' use-after-frees against 1.4% of CPU 1's (the model: 3.3%).
 */
// @ts-ignore: decorator
@inline export function fuzzTickSlot(op: u32): u32 {
  const s = (op * 0x9e3779b1) >> 18;
  return fuzzVictimSlot(s) ? s ^ 2 : s;           // not a victim pair
}

/** A slot of a victim pair (planted scenarios' victims only, on N CPUs). */
// @ts-ignore: decorator
@inline export function fuzzVictimSlot(slot: u32): bool { return ((slot >> 1) & 7) == VICTIM_PHASE; }

/**
 * Segment k's part of the rule, for fuzzSlotOwnerIn: each phase's places moved
 * (a byte each, phase 0 lowest) and k mod N in the top byte.
 */
export function fuzzOwnerSegment(k: u32): u64 {
  const places = load<u32>(OWNER_PLACES), cpus = load<u32>(OWNER_CPUS);
  if (places == 0) return 0;
  let seg: u64 = <u64>(k % cpus) << 56;
  for (let phase: u32 = 0; phase < VICTIM_PHASE; phase++) seg |= <u64>(((k + phase) >> 3) % places) << (phase << 3);
  return seg;
}
/** The CPU that runs slot's ops in the segment fuzzOwnerSegment described. */
// @ts-ignore: decorator
@inline export function fuzzSlotOwnerIn(slot: u32, seg: u64): u32 {
  const pair = (slot >> 1) & (PAIRS - 1);
  const mods = <u32>load<u16>(PAIR_MODS + (<usize>pair << 1));
  const phase = pair & 7;
  if (phase == VICTIM_PHASE) {
    const cpus = load<u32>(OWNER_CPUS);
    const c = (mods >> 8) + <u32>(seg >> 56);
    return c >= cpus ? c - cpus : c;
  }
  const places = load<u32>(OWNER_PLACES);
  let place = (mods & 0xff) + (<u32>(seg >> (phase << 3)) & 0xff);
  if (place >= places) place -= places;
  return <u32>load<u8>(PLACE_CPU + <usize>place);
}
/** Slots s and t are on one CPU in every segment (the same phase and place): a memcpy may pair them. */
export function fuzzSlotsTogether(s: u32, t: u32): bool {
  const ps = (s >> 1) & (PAIRS - 1), pt = (t >> 1) & (PAIRS - 1);
  return (ps & 7) == (pt & 7) && (ps & 7) != VICTIM_PHASE &&
         (load<u16>(PAIR_MODS + (<usize>ps << 1)) & 0xff) == (load<u16>(PAIR_MODS + (<usize>pt << 1)) & 0xff);
}
