// dump_page() as 6.12 prints it for the page behind a buggy address:
//   page: refcount:R mapcount:M mapping:0000000000000000 index:0x0 pfn:0x...
//   head: order:O mapcount:0 entire_mapcount:0 nr_pages_mapped:0 pincount:0   (compound)
//   flags: 0x...(head|zone=1)
//   page_type: f5(slab)                                                      (typed pages)
//   raw: 4 words / raw: 4 words  (+ head: 4 lines for compound pages)
// The raw words follow the kernel's struct page / struct slab layout.
import * as abi from "../../abi/abi.js";
import type { RawRecord } from "./record.js";
import { px } from "./common.js";
import type { FormatContext } from "./context.js";

const PG_HEAD_BIT = 6n;
const PG_RESERVED_BIT = 13n;
const LIST_POISON1 = 0xdead000000000100n;
const LIST_POISON2 = 0xdead000000000122n;

function zoneOf(pfn: bigint, arch: string): bigint {
  if (arch === "arm64") return 0n;
  return pfn < 4096n ? 0n : 1n;              // ZONE_DMA below 16 MiB, ZONE_DMA32 below 4 GiB
}

function pageType(r: RawRecord): [number, string] | undefined {
  if (r.pageFlags & abi.PG_SLAB) return [0xf5, "slab"];
  if (r.pageFlags & abi.PG_BUDDY) return [0xf0, "buddy"];
  if (r.pageFlags & abi.PG_TABLE) return [0xf2, "table"];
  return undefined;
}

/** %pGp of the record's (head) page: "0x...(head|zone=1)". */
export function pageFlags(r: RawRecord, ctx: FormatContext): string {
  const [word, names] = flagsOf(r, ctx);
  return `0x${word.toString(16)}(${names})`;
}

function flagsOf(r: RawRecord, ctx: FormatContext): [bigint, string] {
  const compound = (r.pageFlags & abi.PG_HEAD) !== 0;
  const reserved = (r.pageFlags & abi.PG_RESERVED) !== 0;
  const zone = zoneOf(r.headPfn, ctx.arch);
  const flagsWord = (zone << 62n) | (compound ? 1n << PG_HEAD_BIT : 0n) | (reserved ? 1n << PG_RESERVED_BIT : 0n);
  return [flagsWord, [compound ? "head" : "", reserved ? "reserved" : "", `zone=${zone}`].filter(Boolean).join("|")];
}

// PG_slab and PG_head of 6.1's enum pageflags, in %pGp's name order
const PG61_SLAB_BIT = 9n;
const PG61_HEAD_BIT = 16n;

/**
 * A SLAB slab page as 6.1's __dump_page() prints it: the struct page pointer,
 * the compound head line, PG_slab among the flags, and struct slab's words
 * (flags, slab_list, slab_cache, freelist, s_mem, active | refcount, memcg_data).
 */
function dumpSlabPage61(r: RawRecord, ctx: FormatContext): string[] {
  const compound = (r.pageFlags & abi.PG_HEAD) !== 0;
  const zone = zoneOf(r.headPfn, ctx.arch);
  const flagsWord = (zone << 62n) | (1n << PG61_SLAB_BIT) | (compound ? 1n << PG61_HEAD_BIT : 0n);
  const names = ["slab", compound ? "head" : "", `zone=${zone}`].filter(Boolean).join("|");
  const page = ctx.vmemmapStart + r.pfn * BigInt(abi.STRUCT_PAGE_SIZE);
  const head = ctx.vmemmapStart + r.headPfn * BigInt(abi.STRUCT_PAGE_SIZE);
  const lines = [`page:${ctx.pointer(page)} refcount:${r.pageRef} mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x${r.pfn.toString(16)}`];
  if (compound) lines.push(`head:${ctx.pointer(head)} order:${r.pageOrder} compound_mapcount:0 compound_pincount:0`);
  lines.push(`flags: 0x${flagsWord.toString(16)}(${names})`);
  const active = BigInt(Number(r.arg2) & 0xffff);
  const freelist = r.arg1 === 0n ? 0n : ctx.pageOffset + (r.arg1 - BigInt(abi.PHYS_BASE));
  const w = [flagsWord, r.slabListNext, r.slabListPrev, ctx.cacheVa(r.cache), freelist, r.slabSMem,
    active | (BigInt(r.pageRef >>> 0) << 32n), 0n];
  lines.push(`raw: ${w.slice(0, 4).map(px).join(" ")}`, `raw: ${w.slice(4, 8).map(px).join(" ")}`);
  return lines;
}

export function dumpPage(r: RawRecord, ctx: FormatContext): string[] {
  if (ctx.slabAllocator === "slab" && (r.pageFlags & abi.PG_SLAB) !== 0) return dumpSlabPage61(r, ctx);
  const head = r.headPfn;
  const compound = (r.pageFlags & abi.PG_HEAD) !== 0;
  const reserved = (r.pageFlags & abi.PG_RESERVED) !== 0;
  const [flagsWord, names] = flagsOf(r, ctx);
  const type = pageType(r);
  const refcount = (r.pageFlags & abi.PG_BUDDY) ? 0 : r.pageRef;
  const lines = [`page: refcount:${refcount} mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x${head.toString(16)}`];
  if (compound) lines.push(`head: order:${r.pageOrder} mapcount:0 entire_mapcount:0 nr_pages_mapped:0 pincount:0`);
  lines.push(`flags: 0x${flagsWord.toString(16)}(${names})`);
  if (type) lines.push(`page_type: ${type[0].toString(16)}(${type[1]})`);

  const structPage = ctx.vmemmapStart + head * BigInt(abi.STRUCT_PAGE_SIZE);
  const typeWord = type ? BigInt(type[0]) << 24n : 0xffffffffn;
  const refWord = (BigInt(refcount >>> 0) << 32n) | typeWord;
  let w: bigint[];
  if (r.pageFlags & abi.PG_SLAB) {
    const inuse = BigInt(Number(r.arg2) & 0xffff);
    const objects = BigInt((Number(r.arg2) >>> 16) & 0x7fff);
    const freelist = r.arg1 === 0n ? 0n : ctx.pageOffset + (r.arg1 - BigInt(abi.PHYS_BASE));
    const frozen = (r.arg2 >> 32n) & 1n;      // a CPU's cpu slab
    w = [flagsWord, ctx.cacheVa(r.cache), LIST_POISON2, 0n, freelist, inuse | (objects << 16n) | (frozen << 31n), refWord, 0n];
  } else if (reserved) {
    w = [flagsWord, structPage + 8n, structPage + 8n, 0n, 0n, 0n, refWord, 0n];
  } else {
    w = [flagsWord, LIST_POISON1, LIST_POISON2, 0n, 0n, 0n, refWord, 0n];
  }
  const raw = (prefix: string, words: bigint[]) => [
    `${prefix}: ${words.slice(0, 4).map(px).join(" ")}`,
    `${prefix}: ${words.slice(4, 8).map(px).join(" ")}`,
  ];
  lines.push(...raw("raw", w));
  if (compound) {
    const order = BigInt(r.pageOrder);
    const tail = [flagsWord | order, structPage | 1n, 0xffffffffffffffffn, 0n, 1n << order, 0n, 0xffffffffn, 0n];
    lines.push(...raw("head", w), ...raw("head", tail));
  }
  return lines;
}
