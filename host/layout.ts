// The simulated machine's virtual layout as the core chose it at boot: read
// once through layout_value(), so the host keeps no copy of the core's numbers.
import * as abi from "../abi/abi.js";

export interface Layout {
  /** Start of the direct map (x86_64 page_offset_base, arm64 PAGE_OFFSET). */
  pageOffset: bigint;
  /** The struct page array. */
  vmemmapStart: bigint;
  kasanShadowOffset: bigint;
  kasanShadowStart: bigint;
  /** Exclusive. */
  kasanShadowEnd: bigint;
  taskSize: bigint;
  vmallocStart: bigint;
  /** Exclusive. */
  vmallocEnd: bigint;
  /** _text: the kernel image's code. */
  kernelText: bigint;
}

export function readLayout(x: { layout_value(slot: number): bigint }): Layout {
  const v = (slot: number) => BigInt.asUintN(64, x.layout_value(slot));
  return {
    pageOffset: v(abi.LAYOUT_PAGE_OFFSET),
    vmemmapStart: v(abi.LAYOUT_VMEMMAP_START),
    kasanShadowOffset: v(abi.LAYOUT_KASAN_SHADOW_OFFSET),
    kasanShadowStart: v(abi.LAYOUT_KASAN_SHADOW_START),
    kasanShadowEnd: v(abi.LAYOUT_KASAN_SHADOW_END),
    taskSize: v(abi.LAYOUT_TASK_SIZE),
    vmallocStart: v(abi.LAYOUT_VMALLOC_START),
    vmallocEnd: v(abi.LAYOUT_VMALLOC_END),
    kernelText: v(abi.LAYOUT_KERNEL_TEXT),
  };
}
