// A report as the engine publishes it, and what a subsystem's formatter returns.
// A leaf module (types only), so subsystems import it without a cycle through engine.ts.
import type { RawRecord } from "./record.js";
import type { KasanDetails } from "./kasan.js";
import type { OopsContext } from "./oops.js";
import type { Frame } from "../stackdepot.js";

export type ReportKind = "kasan" | "kfence" | "oops" | "gpf" | "warn" | "bad_page" | "bug" | "panic" | "guest";

/** One report, structured, with its kernel text. */
export interface Report {
  seq: number;
  kind: ReportKind;
  /** "slab-out-of-bounds", "use-after-free read", "page fault", ... */
  type: string;
  /** The first line a parser keys on ("BUG: KASAN: ...", "BUG: unable to handle ..."). */
  title: string;
  address: bigint;
  size: bigint;
  isWrite: boolean;
  pid: number;
  comm: string;
  cpu: number;
  timeNs: bigint;
  /** false when the access or free was skipped (oopses, refused frees). */
  performed: boolean;
  text: string;
  kasan?: KasanDetails;
  /** Subsystem-specific structured facts (KFENCE object, guest function, ...). */
  extra?: Record<string, unknown>;
  raw: RawRecord;
}

/** What a subsystem's formatter returns for one record. */
export type Formatted = Pick<Report, "kind" | "type" | "title" | "performed" | "text"> & Partial<Pick<Report, "kasan">> & { extra?: Record<string, unknown> };
/**
 * Formats one record kind (the core's kinds, KFENCE's, ...: every kind is
 * registered the same way); `frames()` is the access stack, resolved only if
 * the formatter asks.
 */
export type RecordFormatter = (r: RawRecord, ctx: OopsContext, frames: () => Frame[]) => Formatted;
