// Boot configuration: the host writes the parsed command line here, then calls boot().
import { CFG_COUNT } from "../abi/abi";

export const CONFIG_BASE: usize = memory.data(CFG_COUNT * 8, 8);

// @ts-ignore: decorator
@inline export function cfg(slot: i32): i64 {
  return load<i64>(CONFIG_BASE + (<usize>slot << 3));
}

export function config_set(slot: i32, value: i64): void {
  if (<u32>slot < <u32>CFG_COUNT) store<i64>(CONFIG_BASE + (<usize>slot << 3), value);
}
