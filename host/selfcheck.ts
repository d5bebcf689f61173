// What each engine_self_check() bit means, in the order of the SELF_CHECK_* bits in abi/abi.ts.
import * as abi from "../abi/abi.js";

const SELF_CHECK_NAMES: ReadonlyArray<readonly [number, string]> = [
  [abi.SELF_CHECK_TLB, "TLB entries disagree with the page tables"],
  [abi.SELF_CHECK_BUDDY, "buddy or per-CPU page lists are inconsistent"],
  [abi.SELF_CHECK_FRAMES, "frame accounting disagrees with struct pages"],
  [abi.SELF_CHECK_SLAB, "a slab cache or slab list is inconsistent"],
  [abi.SELF_CHECK_DIRECT_MAP, "the direct map no longer maps every frame to itself"],
  [abi.SELF_CHECK_GUEST_FRAMES, "guest frame marks disagree with frame use"],
  [abi.SELF_CHECK_RING, "the report ring indices are inconsistent"],
];

/** The problems a self-check mask names (empty: the engine's invariants hold). */
export function selfCheckProblems(mask: number): string[] {
  return SELF_CHECK_NAMES.filter(([bit]) => mask & bit).map(([, name]) => name);
}
