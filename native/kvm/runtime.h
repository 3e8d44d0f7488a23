/*
 * The guest runtime's memory map, shared by runtime.S and the monitor.
 *
 * Guest virtual == guest physical. Everything the runtime needs lives below
 * 0x10000, Linux's mmap_min_addr, where no Linux program ever maps anything.
 * Each vCPU (one per guest thread) has its own syscall stub, hypercall slot,
 * TSS and exception stack; the rest is shared:
 *
 *   0x0000 +-----------------------------+ not present: NULL faults
 *   0x1000 | syscall stubs, one per vCPU | user, read + execute (PVM runs them at CPL 3)
 *   0x3000 | exception stubs             | supervisor, read + execute
 *   0x4000 | hypercall slots, one each   | user, read + write (the stub stores into its own)
 *   0x6000 | GDT, then the IDT at 0x6800 | supervisor, read + write (CPU sets busy/accessed bits)
 *   0x7000 | TSS + exception stack, each | supervisor, read + write
 *   0xf000 +-----------------------------+ free up to 0x10000
 *
 * vCPU n's stub is at RT_STUB(n) and its slot at RT_HCSLOT(n): the same
 * distance apart for every n, so every stub is the same bytes, addressing its
 * own slot RIP-relative, and the vCPU's LSTAR picks its stub. Its TSS starts
 * its block at RT_TSS(n) and its exception stack (IST1) ends the block at
 * RT_IST_TOP(n).
 *
 * Page tables live in a pool at the top of guest RAM (see memory.h); the
 * application owns everything in between.
 *
 * This file is included by an assembler source: #defines only.
 */
#ifndef TOROV_GUEST_RUNTIME_H
#define TOROV_GUEST_RUNTIME_H

#define RT_MAX_VCPUS   64      /* guest threads at once */

#define RT_BASE        0x1000
#define RT_SYSCALL     0x1000
#define RT_STUB_SIZE   128
#define RT_EXCEPTION   0x3000
#define RT_HC          0x4000
#define RT_HC_SIZE     128
#define RT_GDT         0x6000
#define RT_IDT         0x6800
#define RT_TASK        0x7000
#define RT_TASK_SIZE   512
#define RT_END         0xf000
#define RT_LIMIT       0x10000 /* first address an application may use */

#define RT_STUB(n)     (RT_SYSCALL + (n) * RT_STUB_SIZE)
#define RT_HCSLOT(n)   (RT_HC + (n) * RT_HC_SIZE)
#define RT_TSS(n)      (RT_TASK + (n) * RT_TASK_SIZE)
#define RT_IST_TOP(n)  (RT_TASK + ((n) + 1) * RT_TASK_SIZE)

/* Each exception stub is 16 bytes: vector N's stub is at RT_EXCEPTION + 16*N. */
#define RT_EXC_STUB_SIZE 16
#define RT_EXC_VECTORS   32

/* A TSS: 0x68 bytes, then a bitmap for ports 0..RT_TSS_IOPORTS-1 and a
 * terminator. Its exception stack has the rest of its block. */
#define RT_TSS_IOMAP   0x68
#define RT_TSS_IOPORTS 256
#define RT_TSS_LIMIT   (RT_TSS_IOMAP + RT_TSS_IOPORTS / 8)

/* I/O ports the runtime exits on. Any other port is a ToroV flat-ABI hypercall. */
#define HC_PORT  0xf1 /* hypercall: arguments in the hypercall page */
#define EXC_PORT 0xf2 /* exception: vector and error code on the IST stack */

/*
 * Hypercall slot layout (offsets). The stub stores the Linux syscall
 * registers here, exits, then returns HC_RET in rax, jumping to HC_RIP with
 * flags HC_RFLAGS: the monitor may rewrite those (a debugger changing pc).
 */
#define HC_NR      0x00 /* rax */
#define HC_A0      0x08 /* rdi */
#define HC_A1      0x10 /* rsi */
#define HC_A2      0x18 /* rdx */
#define HC_A3      0x20 /* r10 */
#define HC_A4      0x28 /* r8  */
#define HC_A5      0x30 /* r9  */
#define HC_RIP     0x38 /* rcx: the instruction after `syscall` */
#define HC_RFLAGS  0x40 /* r11: the application's rflags */
#define HC_RET     0x48 /* result, or -errno */
#define HC_RSP     0x50 /* scratch: the user-mode return path keeps rsp here */

/*
 * What the stub lets sysretq load into rflags from the slot: the flags a
 * program may set (Linux's ptrace FLAG_MASK: CF PF AF ZF SF TF DF OF NT RF
 * AC ID), and always IF and the fixed bit 1. Never IOPL.
 */
#define USER_RFLAGS  0x254dd5
#define RFLAGS_FIXED 0x202

/* Segment selectors, as Linux has them, so a debugger shows familiar values. */
#define KERNEL_CS  0x10
#define KERNEL_DS  0x18
#define USER32_CS  0x23
#define USER_DS    0x2b
#define USER_CS    0x33
#define TSS_SEL    0x40

#endif
