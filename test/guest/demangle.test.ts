// Rust symbol names as reports print them (legacy and v0 mangling), names of
// other languages untouched, hostile names bounded.
import { describe, it, expect } from "vitest";
import { demangle } from "../../host/guest/demangle.js";

describe("demangle: Rust legacy symbols (rustc's default)", () => {
  it("drops the hash and joins the path with ::", () => {
    expect(demangle("_ZN10unmodified4main17h0123456789abcdefE")).toBe("unmodified::main");
    expect(demangle("_ZN3std2rt10lang_start17h9d1f0c0b8a7e6d5cE")).toBe("std::rt::lang_start");
  });
  it("decodes the $-escapes and .. of generic and impl paths", () => {
    expect(demangle("_ZN36_$LT$T$u20$as$u20$core..any..Any$GT$7type_id17he2dbf429ec92e8f4E")).toBe("<T as core::any::Any>::type_id");
    expect(demangle("_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h6e11055b43c25b14E"))
      .toBe("core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>");
    expect(demangle("_ZN50_$LT$$RF$mut$u20$W$u20$as$u20$core..fmt..Write$GT$10write_char17hd044ce1e93cb24e0E")).toBe("<&mut W as core::fmt::Write>::write_char");
  });
  it("drops ThinLTO's .llvm.N suffix (as kallsyms does) and keeps others", () => {
    expect(demangle("_ZN5alloc7raw_vec11finish_grow17h1dca93577eb608a3E.llvm.14866878828741223298")).toBe("alloc::raw_vec::finish_grow");
    expect(demangle("_ZN3foo3bar17h0123456789abcdefE.cold")).toBe("foo::bar.cold");
  });
  it("leaves C, C++ and malformed names as they are", () => {
    for (const n of ["main", "__original_main", "malloc", "_ZN3foo3barEv", "_ZN3foo3barE", "_ZN3fooE",
      "_ZN3foo3bar17h0123456789abcdeE", "_ZN99fooE", "_ZN3f$Zo17h0123456789abcdefE", "_ZN", "_R", "_Rx", ""]) {
      expect(demangle(n)).toBe(n);
    }
  });
});

describe("demangle: Rust v0 symbols (-C symbol-mangling-version=v0)", () => {
  it("paths, crate disambiguators dropped", () => {
    expect(demangle("_RNvCscinzTjE1Rdg_10unmodified4main")).toBe("unmodified::main");
    expect(demangle("_RNvNtCs1234_7mycrate3bar3foo")).toBe("mycrate::bar::foo");
  });
  it("generic arguments (::<> in a value path, <> in a type), closures, trait impls and shims", () => {
    expect(demangle("_RINvNtNtCs8v1rFTdFJUG_3std10sys_common9backtrace28___rust_begin_short_backtraceFEuuECscinzTjE1Rdg_10unmodified"))
      .toBe("std::sys_common::backtrace::__rust_begin_short_backtrace::<fn(), ()>");
    expect(demangle("_RNCINvNtCs8v1rFTdFJUG_3std2rt10lang_startuE0CscinzTjE1Rdg_10unmodified.llvm.11896033061234048739"))
      .toBe("std::rt::lang_start::<()>::{closure#0}");
    expect(demangle("_RNSNvYNCINvNtCs8v1rFTdFJUG_3std2rt10lang_startuE0INtNtNtCs247YrygNUAC_4core3ops8function6FnOnceuE9call_once6vtableCscinzTjE1Rdg_10unmodified"))
      .toBe("<std::rt::lang_start<()>::{closure#0} as core::ops::function::FnOnce<()>>::call_once::{shim:vtable#0}");
    expect(demangle("_RINvCs1_5crate3fooRShE")).toBe("crate::foo::<&[u8]>");
  });
  it("backrefs", () => {
    expect(demangle("_RINvCs1_5crate3fooNtB2_3BarE")).toBe("crate::foo::<crate::Bar>");
  });
  it("hostile names come back unchanged: endless backrefs, deep nesting, punycode, junk after the symbol", () => {
    const deep = "_R" + "NvNv".repeat(5000) + "C1a";
    // level k is I<level k-1><level k-1, level k-1> through backrefs: 3^40 expansions without a work bound
    const b62 = (v: number): string => { const d = "0123456789abcdefghijklmnopqrstuvwxyz"; let o = ""; do { o = (d + d.slice(10).toUpperCase())[v % 62] + o; v = Math.floor(v / 62); } while (v); return o; };
    const ref = (pos: number) => "B" + (pos === 0 ? "_" : b62(pos - 1) + "_");
    let body = "IC1a", prev = 1;
    for (let k = 0; k < 40; k++) { const at = body.length; body += "I" + ref(prev).repeat(3) + "E"; prev = at; }
    const doubling = "_R" + body + "E";
    for (const n of ["_RB_", "_RNvB_3foo", deep, doubling, "_RNvC1a" + "I".repeat(100000), "_RNvCs1_5crateu3caf", "_RNvC5crate3foo junk"]) {
      expect(demangle(n)).toBe(n);
    }
  });
});
