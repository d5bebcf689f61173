// Counters as an enum (abi STAT_*) over a u64 array the host reads in place.
import { STAT_COUNT, STAT_USE_BASE } from "../abi/abi";

export const STATS_BASE: usize = memory.data(STAT_COUNT * 8, 8);

// @ts-ignore: decorator
@inline export function statInc(id: i32): void {
  const p = STATS_BASE + (<usize>id << 3);
  store<u64>(p, load<u64>(p) + 1);
}
// @ts-ignore: decorator
@inline export function statAdd(id: i32, n: i64): void {
  const p = STATS_BASE + (<usize>id << 3);
  store<i64>(p, load<i64>(p) + n);
}
// @ts-ignore: decorator
@inline export function statSet(id: i32, v: u64): void {
  store<u64>(STATS_BASE + (<usize>id << 3), v);
}
// @ts-ignore: decorator
@inline export function statGet(id: i32): u64 {
  return load<u64>(STATS_BASE + (<usize>id << 3));
}
// @ts-ignore: decorator
@inline export function useFramesAdd(use: i32, n: i32): void {
  statAdd(STAT_USE_BASE + use, n);
}
