// WASI for a relocated guest (a default wasm-ld layout running at linear
// address = guest pointer + base, see the runner's layoutOf): every pointer a syscall
// takes is the guest's, so this layer translates them before the guard and
// the implementation (node:wasi or the subset) see linear addresses, and
// translates back the pointers a syscall writes (args_get, environ_get). An
// iovec array holds pointers too: it is copied, translated, into a scratch
// area the runner owns (the guest cannot touch it).
import { ERRNO_FAULT, ERRNO_INVAL, type WasiImports } from "./wasi.js";

/** Which arguments of a preview1 function are pointers, and which one is an iovec array (with its count). */
interface PointerArgs { ptrs: number[]; iovs?: [number, number]; list?: "args" | "env" }

const WASI_POINTERS: Record<string, PointerArgs> = {
  args_get: { ptrs: [0, 1], list: "args" }, args_sizes_get: { ptrs: [0, 1] },
  environ_get: { ptrs: [0, 1], list: "env" }, environ_sizes_get: { ptrs: [0, 1] },
  clock_res_get: { ptrs: [1] }, clock_time_get: { ptrs: [2] },
  fd_fdstat_get: { ptrs: [1] }, fd_filestat_get: { ptrs: [1] }, fd_prestat_get: { ptrs: [1] }, fd_prestat_dir_name: { ptrs: [1] },
  fd_pread: { ptrs: [4], iovs: [1, 2] }, fd_pwrite: { ptrs: [4], iovs: [1, 2] },
  fd_read: { ptrs: [3], iovs: [1, 2] }, fd_write: { ptrs: [3], iovs: [1, 2] },
  fd_readdir: { ptrs: [1, 4] }, fd_seek: { ptrs: [3] }, fd_tell: { ptrs: [1] },
  path_create_directory: { ptrs: [1] }, path_filestat_get: { ptrs: [2, 4] }, path_filestat_set_times: { ptrs: [2] },
  path_link: { ptrs: [2, 5] }, path_open: { ptrs: [2, 8] }, path_readlink: { ptrs: [1, 3, 5] },
  path_remove_directory: { ptrs: [1] }, path_rename: { ptrs: [1, 4] }, path_symlink: { ptrs: [0, 3] },
  path_unlink_file: { ptrs: [1] }, poll_oneoff: { ptrs: [0, 1, 3] }, random_get: { ptrs: [0] },
  sock_accept: { ptrs: [2] }, sock_recv: { ptrs: [4, 5], iovs: [1, 2] }, sock_send: { ptrs: [4], iovs: [1, 2] },
};

/** Bytes an iovec takes (buf u32, len u32). */
const IOVEC = 8;

export interface RelocateWasiOptions {
  memory: () => WebAssembly.Memory;
  /** Linear address = guest pointer + base. */
  base: number;
  /** Scratch for translated iovec arrays: linear address and bytes (a multiple of 8). */
  scratch: number;
  scratchBytes: number;
  /** argv / environ entries args_get / environ_get write. */
  counts: { args: number; env: number };
}

/** The largest iovec array a relocated guest may pass (the scratch's size); more is EINVAL, as past Linux's IOV_MAX. */
export function relocatedIovMax(o: RelocateWasiOptions): number {
  return Math.floor(o.scratchBytes / IOVEC);
}

/** Wrap linear-address WASI functions so a relocated guest calls them with its own pointers. */
export function relocateWasi(fns: WasiImports, names: string[], o: RelocateWasiOptions): WasiImports {
  const out: WasiImports = {};
  const iovMax = relocatedIovMax(o);
  const lin = (p: number) => (p >>> 0) + o.base;
  for (const name of names) {
    const impl = fns[name];
    const spec = WASI_POINTERS[name];
    if (!impl || !spec) { if (impl) out[name] = impl; continue; }
    out[name] = (...a: Array<number | bigint>) => {
      const args = a.slice();
      for (const i of spec.ptrs) {
        const p = lin(Number(args[i]));
        if (p > 0xffffffff) return ERRNO_FAULT;
        args[i] = p | 0;
      }
      if (spec.iovs) {
        const [at, countAt] = spec.iovs;
        const n = Number(args[countAt]) >>> 0;
        if (n > iovMax) return ERRNO_INVAL;
        const src = lin(Number(args[at]));
        const dv = new DataView(o.memory().buffer);
        if (src + n * IOVEC > dv.byteLength) return ERRNO_FAULT;
        for (let i = 0; i < n; i++) {
          const buf = lin(dv.getUint32(src + i * IOVEC, true));
          const len = dv.getUint32(src + i * IOVEC + 4, true);
          if (buf > 0xffffffff) return ERRNO_FAULT;
          dv.setUint32(o.scratch + i * IOVEC, buf, true);
          dv.setUint32(o.scratch + i * IOVEC + 4, len, true);
        }
        args[at] = o.scratch | 0;
      }
      const r = impl(...args);
      if (spec.list && r === 0) {
        // the pointers the call wrote into argv / environ are linear: the guest's are base lower
        const dv = new DataView(o.memory().buffer);
        const arr = Number(args[0]) >>> 0;
        const count = o.counts[spec.list];
        for (let i = 0; i < count; i++) dv.setUint32(arr + i * 4, (dv.getUint32(arr + i * 4, true) - o.base) >>> 0, true);
      }
      return r;
    };
  }
  return out;
}
