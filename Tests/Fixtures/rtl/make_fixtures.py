#!/usr/bin/env python3
"""Writes the RTL micro-programs of shared/VTA.md as vtafarm program directories.

Each instruction is encoded here by hand, independently of vtafarm's Swift encoder, in VTA's
128-bit layout at the stock configuration (fields packed from bit 0 in VTA's order; a field that
would straddle bit 64 starts at bit 64). program.json carries the cycle counts measured on the
VTA RTL, keyed by DRAM read latency, for `vtafarm bench calibration` and the tests.

Run from anywhere: python3 Tests/Fixtures/rtl/make_fixtures.py
"""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
COMMON = [("opcode", 3), ("pop_prev", 1), ("pop_next", 1), ("push_prev", 1), ("push_next", 1)]
MEM = COMMON + [("memory_type", 3), ("sram_base", 16), ("dram_base", 32), ("y_size", 16), ("x_size", 16),
                ("x_stride", 16), ("y_pad_0", 4), ("y_pad_1", 4), ("x_pad_0", 4), ("x_pad_1", 4)]
LOOP = COMMON + [("reset", 1), ("uop_bgn", 13), ("uop_end", 14), ("iter_out", 14), ("iter_in", 14)]
GEMM = LOOP + [("dst_out", 11), ("dst_in", 11), ("src_out", 11), ("src_in", 11), ("wgt_out", 10), ("wgt_in", 10)]
ALU = LOOP + [("dst_out", 11), ("dst_in", 11), ("src_out", 11), ("src_in", 11), ("alu_opcode", 3), ("use_imm", 1), ("imm", 16)]
LOAD, STORE, GEMM_OP, FINISH, ALU_OP = 0, 1, 2, 3, 4
UOP, WGT, INP, ACC, OUT = 0, 1, 2, 3, 4
ELEM = {UOP: 4, WGT: 256, INP: 16, ACC: 64, OUT: 16}


def encode(layout, **values):
    word, bit = 0, 0
    for name, width in layout:
        if bit < 64 < bit + width:
            bit = 64
        v = values.get(name, 0)
        assert 0 <= v < (1 << width), (name, v)
        word |= v << bit
        bit += width
    assert bit <= 128
    return word.to_bytes(16, "little")


# DRAM image: one page-aligned region per kind.
BASE = {"insn": 0, "uop": 1 << 16, "inp": 1 << 17, "wgt": 1 << 18, "acc": 1 << 19, "out": 1 << 20}
REGION_OF = {UOP: "uop", INP: "inp", WGT: "wgt", ACC: "acc", OUT: "out"}


def mem(opcode, mtype, n, **deps):
    return encode(MEM, opcode=opcode, memory_type=mtype, sram_base=0, dram_base=BASE[REGION_OF[mtype]] // ELEM[mtype],
                  y_size=1, x_size=n, x_stride=n, **deps), (mtype, n)


def gemm(n, reset=0, iters=(1, 1)):
    return encode(GEMM, opcode=GEMM_OP, reset=reset, uop_bgn=0, uop_end=n, iter_out=iters[0], iter_in=iters[1]), None


def alu(n, use_imm):
    return encode(ALU, opcode=ALU_OP, uop_bgn=0, uop_end=n, iter_out=1, iter_in=1, alu_opcode=2, use_imm=use_imm, imm=1), None


def finish(**deps):
    return encode(COMMON, opcode=FINISH, **deps), None


PROGRAMS = {
    "finish": ([finish()], {1: 8, 8: 15, 32: 39, 100: 107}),
    "load_uop_1": ([mem(LOAD, UOP, 1), finish()], {1: 16}),
    "gemm_reset_1": ([mem(LOAD, UOP, 1), gemm(1, reset=1), finish()], {1: 26}),
    "load_inp_16": ([mem(LOAD, INP, 16, push_next=1), finish(pop_prev=1)], {1: 48, 8: 62, 32: 110, 100: 246}),
    "load_wgt_16": ([mem(LOAD, WGT, 16, push_next=1), finish(pop_prev=1)], {1: 528}),
    "load_acc_16": ([mem(LOAD, ACC, 16), finish()], {1: 144}),
    "load_uop_16": ([mem(LOAD, UOP, 16), finish()], {1: 23}),
    "gemm_16": ([mem(LOAD, UOP, 16), gemm(16), finish()], {1: 48}),
    "load_uop_256": ([mem(LOAD, UOP, 256), finish()], {1: 143}),
    "gemm_256": ([mem(LOAD, UOP, 256), gemm(256), finish()], {1: 408, 8: 422, 32: 470, 100: 606}),
    "gemm_1024": ([mem(LOAD, UOP, 1024), gemm(1024), finish()], {1: 1560}),
    "gemm_reset_256": ([mem(LOAD, UOP, 256), gemm(256, reset=1), finish()], {1: 408}),
    "gemm_16_iter_16x16": ([mem(LOAD, UOP, 16), gemm(16, iters=(16, 16)), finish()], {1: 4128}),
    "alu_imm_256": ([mem(LOAD, UOP, 256), alu(256, 1), finish()], {1: 408}),
    "alu_reg_256": ([mem(LOAD, UOP, 256), alu(256, 0), finish()], {1: 664}),
    "store_16": ([mem(STORE, OUT, 16, push_prev=1), finish(pop_next=1)], {1: 61, 8: 68, 32: 92, 100: 160}),
    # Measured with the tokens: the store pushes, FINISH pops (without them the RTL takes 11).
    "store_1": ([mem(STORE, OUT, 1, push_prev=1), finish(pop_next=1)], {1: 16}),
}

# The RTL that measured these (VTA.md) issues bursts of up to 256 beats and writes a store row as one
# burst: the 16-element store is one 32-beat burst there, not two 16-beat ones.
HARDWARE = {"TARGET": "sim", "HW_VER": "0.0.2", "LOG_INP_WIDTH": 3, "LOG_WGT_WIDTH": 3, "LOG_ACC_WIDTH": 5,
            "LOG_BATCH": 0, "LOG_BLOCK_IN": 4, "LOG_BLOCK_OUT": 4, "LOG_UOP_BUFF_SIZE": 15, "LOG_INP_BUFF_SIZE": 15,
            "LOG_WGT_BUFF_SIZE": 18, "LOG_ACC_BUFF_SIZE": 17, "AXI_WIDTH": 64, "MAX_BURST": 256, "CLOCK_MHZ": 100,
            "DRAM_LATENCY": 1}

for name, (insns, measured) in PROGRAMS.items():
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    sizes = {}
    for _, transfer in insns:
        if transfer:
            mtype, n = transfer
            sizes[mtype] = max(sizes.get(mtype, 0), n)
    regions = [{"name": "insn", "file": "insn.bin", "base": 0, "element_bytes": 16, "elements": len(insns)}]
    with open(os.path.join(d, "insn.bin"), "wb") as f:
        f.write(b"".join(bits for bits, _ in insns))
    # The GEMM/ALU programs read uops; give them a full buffer's worth of distinct rows.
    if any(b[0] & 7 in (GEMM_OP, ALU_OP) for b, _ in insns):
        sizes[UOP] = max(sizes.get(UOP, 0), 1024)
    for mtype, n in sorted(sizes.items()):
        region = REGION_OF[mtype]
        entry = {"name": region, "base": BASE[region], "element_bytes": ELEM[mtype], "elements": n}
        if mtype == UOP:
            # uop i: dst = i, src = (i + 1) % 2048, wgt = i % 1024 (11 + 11 + 10 bits)
            words = [(i % 2048) | (((i + 1) % 2048) << 11) | ((i % 1024) << 22) for i in range(n)]
            data = b"".join(struct.pack("<I", w) for w in words)
        else:
            data = bytes(n * ELEM[mtype])
        if mtype != OUT:
            entry["file"] = f"{region}.bin"
            with open(os.path.join(d, entry["file"]), "wb") as f:
                f.write(data)
        regions.append(entry)
    manifest = {"format": "vtafarm-program", "version": 1, "hardware": HARDWARE, "instructions": len(insns),
                "regions": regions, "measured_cycles": {str(k): v for k, v in measured.items()}}
    with open(os.path.join(d, "program.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
print(f"wrote {len(PROGRAMS)} program directories under {HERE}")
