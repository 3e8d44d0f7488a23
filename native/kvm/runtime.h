/*
 * The guest runtime's memory map, shared by runtime.S and the monitor.
 *
 * Process virtual == guest physical. Everything the runtime needs lives below
 * 0x10000, Linux's mmap_min_addr, where no Linux program ever maps anything:
 *
 *   0x0000 +-----------------------------+ not present: NULL faults
 *   0x1000 | syscall entry stub          | user, read + execute (PVM runs it at CPL 3)
 *   0x2000 | exception stubs             | supervisor, read + execute
 *   0x3000 | hypercall page (vCPU 0)     | user, read + write (the stub stores into it)
 *   0x4000 | GDT                         | supervisor, read + write (CPU sets busy/accessed bits)
 *   0x5000 | IDT                         | supervisor, read
 *   0x6000 | TSS                         | supervisor, read + write
 *   0x7000 | IST stack (8 KiB)           | supervisor, read + write
 *   0x9000 +-----------------------------+ free up to 0x10000 (more vCPUs later)
 *
 * Page tables live in a pool at the top of guest RAM (see memory.h); the
 * application owns everything in between.
 *
 * This file is included by an assembler source: #defines only.
 */
#ifndef TOROV_GUEST_RUNTIME_H
#define TOROV_GUEST_RUNTIME_H

#define RT_BASE        0x1000
#define RT_SYSCALL     0x1000
#define RT_EXCEPTION   0x2000
#define RT_HCPAGE      0x3000
#define RT_GDT         0x4000
#define RT_IDT         0x5000
#define RT_TSS         0x6000
#define RT_IST_LOW     0x7000
#define RT_IST_TOP     0x9000
#define RT_END         0x9000
#define RT_LIMIT       0x10000 /* first address an application may use */

/* Each exception stub is 16 bytes: vector N's stub is at RT_EXCEPTION + 16*N. */
#define RT_EXC_STUB_SIZE 16
#define RT_EXC_VECTORS   32

/* The TSS: 0x68 bytes, then a bitmap for ports 0..RT_TSS_IOPORTS-1 and a terminator. */
#define RT_TSS_IOMAP   0x68
#define RT_TSS_IOPORTS 256
#define RT_TSS_LIMIT   (RT_TSS_IOMAP + RT_TSS_IOPORTS / 8)

/* I/O ports the runtime exits on. Any other port is a ToroV flat-ABI hypercall. */
#define HC_PORT  0xf1 /* hypercall: arguments in the hypercall page */
#define EXC_PORT 0xf2 /* exception: vector and error code on the IST stack */

/*
 * Hypercall page layout (offsets). The stub stores the Linux syscall
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

/* Segment selectors, as Linux has them, so a debugger shows familiar values. */
#define KERNEL_CS  0x10
#define KERNEL_DS  0x18
#define USER32_CS  0x23
#define USER_DS    0x2b
#define USER_CS    0x33
#define TSS_SEL    0x40

#endif
