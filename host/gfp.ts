// GFP flags as the API takes them: a number, or names as C writes them ("GFP_KERNEL | __GFP_ZERO").
import * as abi from "../abi/abi.js";
import { flagsArg } from "./args.js";

const GFP_NAMES: Record<string, number> = {
  GFP_KERNEL: abi.GFP_KERNEL, GFP_ATOMIC: abi.GFP_ATOMIC, GFP_NOWAIT: abi.GFP_NOWAIT, __GFP_ZERO: abi.GFP_ZERO,
  __GFP_NOWARN: abi.GFP_NOWARN, __GFP_NORETRY: abi.GFP_NORETRY, __GFP_COMP: abi.GFP_COMP, __GFP_ACCOUNT: abi.GFP_ACCOUNT,
  __GFP_DMA: abi.GFP_DMA, __GFP_THISNODE: abi.GFP_THISNODE, __GFP_NOFAIL: abi.GFP_NOFAIL,
};
/** GFP flags as a number or "GFP_KERNEL | __GFP_ZERO". */
export type Gfp = number | string;
export function parseGfp(g: Gfp = "GFP_KERNEL"): number {
  // gfp_t is an unsigned int
  return flagsArg("gfp", "GFP", g, GFP_NAMES, "GFP_KERNEL | __GFP_ZERO");
}
