/*
 * The guest runtime: all the "kernel" a torov guest has.
 *
 * The monitor copies this image to guest address RT_BASE before the first
 * instruction runs (see runtime.h for the map). It is data to the addon: it
 * sits in .rodata and is never executed on the host. Every reference inside
 * it is RIP-relative or a constant, so the image works wherever RT_BASE is.
 *
 * Under PVM, code at CPL 0 is emulated one instruction at a time and the
 * emulator has no SSE and no string instructions: the exception path is plain
 * integer moves, push, out and iretq. The syscall stub runs in user mode
 * there (PVM delivers `syscall` to LSTAR without changing CPL) and at CPL 0 on
 * VT-x/AMD-V: it works either way.
 */
#include "runtime.h"

        .intel_syntax noprefix
        .section .rodata.torov_runtime, "a", @progbits
        .balign 4096
        .globl torov_runtime_image
        .globl torov_runtime_image_end
torov_runtime_image:

/*
 * The hypercall path. The application's `syscall` lands at its vCPU's stub
 * (LSTAR). Store the Linux syscall registers in the vCPU's hypercall slot,
 * exit once on HC_PORT, and return the result the monitor left in HC_RET.
 * Nothing but rax, rcx and r11 changes, exactly as with a Linux kernel.
 * One copy per vCPU, each RT_STUB_SIZE bytes (a larger one would move the
 * next .org backwards, which the assembler refuses): `hc` is its own slot.
 *
 * The slot is guest memory, and under PVM it must be writable from user
 * mode: PVM runs this stub at CPL 3, so its stores are user-mode stores.
 * Every thread of the guest can therefore write every vCPU's slot (on
 * VT-x/AMD-V, where the stub runs at CPL 0, the monitor maps the slots
 * supervisor-only). So the monitor copies a call out of the slot once, at
 * the exit, and never reads it again; and what this stub reads back after
 * the exit is only what the monitor wrote, which another thread may have
 * replaced since. At CPL 0 nothing from the slot reaches sysretq unchecked:
 * r11 keeps only the flags a program may set (never IOPL, IF always on)
 * and rcx is made canonical (a non-canonical one would fault at CPL 0). In
 * user mode popfq cannot raise IOPL or change IF, and a bad rcx faults in
 * user mode: a thread that rewrites another's return can only hurt the
 * program, as writing its stack could.
 */
        .set    n, 0
        .rept   RT_MAX_VCPUS
        .org    RT_STUB(n) - RT_BASE
        .set    hc, torov_runtime_image + RT_HCSLOT(n) - RT_BASE
        mov     qword ptr [rip + hc + HC_NR], rax
        mov     qword ptr [rip + hc + HC_A0], rdi
        mov     qword ptr [rip + hc + HC_A1], rsi
        mov     qword ptr [rip + hc + HC_A2], rdx
        mov     qword ptr [rip + hc + HC_A3], r10
        mov     qword ptr [rip + hc + HC_A4], r8
        mov     qword ptr [rip + hc + HC_A5], r9
        mov     qword ptr [rip + hc + HC_RIP], rcx
        mov     qword ptr [rip + hc + HC_RFLAGS], r11
        out     HC_PORT, al
        /* The monitor may have moved the return point (a debugger setting pc). */
        mov     rcx, qword ptr [rip + hc + HC_RIP]
        mov     r11, qword ptr [rip + hc + HC_RFLAGS]
        mov     eax, cs
        test    al, 3
        mov     rax, qword ptr [rip + hc + HC_RET]
        jnz     1f
        /* CPL 0 (VT-x/AMD-V): the ordinary return, from supervisor code. */
        jmp     sysret_checked
1:      /*
         * User mode (PVM): there is no sysret to do, so restore the flags
         * and jump. popfq needs a stack; use a word of the hypercall slot
         * rather than the application's stack, which may have a red zone in
         * use or no room at all.
         */
        mov     qword ptr [rip + hc + HC_RSP], rsp
        lea     rsp, [rip + hc + HC_RFLAGS]
        popfq
        mov     rsp, qword ptr [rip + hc + HC_RSP]
        jmp     rcx
        .set    n, n + 1
        .endr

/*
 * Exception stubs, one per vector, 16 bytes apart. Each pushes a dummy error
 * code when the CPU pushes none, then the vector, so the monitor always finds
 * [vector, error code, rip, cs, rflags, rsp, ss] at the IST stack pointer.
 * The monitor decides everything: it ends the VM, or edits the frame and
 * resumes (a debugger's breakpoint), in which case iretq goes back.
 */
.macro  EXC_NOERR vector
        .org RT_EXCEPTION - RT_BASE + \vector * RT_EXC_STUB_SIZE
        push    0
        push    \vector
        jmp     exception_common
.endm
.macro  EXC_ERR vector
        .org RT_EXCEPTION - RT_BASE + \vector * RT_EXC_STUB_SIZE
        push    \vector
        jmp     exception_common
.endm

        EXC_NOERR 0     /* #DE divide error */
        EXC_NOERR 1     /* #DB debug */
        EXC_NOERR 2     /* NMI */
        EXC_NOERR 3     /* #BP breakpoint */
        EXC_NOERR 4     /* #OF overflow */
        EXC_NOERR 5     /* #BR bound range */
        EXC_NOERR 6     /* #UD invalid opcode */
        EXC_NOERR 7     /* #NM device not available */
        EXC_ERR   8     /* #DF double fault */
        EXC_NOERR 9     /* coprocessor segment overrun */
        EXC_ERR   10    /* #TS invalid TSS */
        EXC_ERR   11    /* #NP segment not present */
        EXC_ERR   12    /* #SS stack fault */
        EXC_ERR   13    /* #GP general protection */
        EXC_ERR   14    /* #PF page fault */
        EXC_NOERR 15
        EXC_NOERR 16    /* #MF x87 floating point */
        EXC_ERR   17    /* #AC alignment check */
        EXC_NOERR 18    /* #MC machine check */
        EXC_NOERR 19    /* #XM SIMD floating point */
        EXC_NOERR 20    /* #VE */
        EXC_ERR   21    /* #CP control protection */
        EXC_NOERR 22
        EXC_NOERR 23
        EXC_NOERR 24
        EXC_NOERR 25
        EXC_NOERR 26
        EXC_NOERR 27
        EXC_NOERR 28
        EXC_ERR   29    /* #VC */
        EXC_ERR   30    /* #SX */
        EXC_NOERR 31

        .org RT_EXCEPTION - RT_BASE + RT_EXC_VECTORS * RT_EXC_STUB_SIZE
exception_common:
        out     EXC_PORT, al
        add     rsp, 16
        iretq

/*
 * The syscall stubs' return at CPL 0, shared by all of them (and too long
 * to fit in each): rcx and r11 came from the slot, so sysretq gets only
 * what a program may have. r11 keeps the flags a program may set, with IF
 * on and IOPL 0; rcx is sign-extended from bit 47, so sysretq never sees a
 * non-canonical address (Intel's would #GP at CPL 0).
 */
sysret_checked:
        and     r11, USER_RFLAGS
        or      r11, RFLAGS_FIXED
        shl     rcx, 16
        sar     rcx, 16
        sysretq

/* The hypercall slots: written by the stubs and the monitor, never by the image. */
        .org    RT_HC - RT_BASE
        .skip   RT_MAX_VCPUS * RT_HC_SIZE

/* GDT: Linux's selector values (runtime.h). */
        .org RT_GDT - RT_BASE
        .quad   0                       /* 0x00 null */
        .quad   0                       /* 0x08 unused */
        .quad   0x00af9b000000ffff      /* 0x10 kernel code, 64-bit */
        .quad   0x00cf93000000ffff      /* 0x18 kernel data */
        .quad   0x00cffb000000ffff      /* 0x20 user code, 32-bit (0x23) */
        .quad   0x00cff3000000ffff      /* 0x28 user data (0x2b) */
        .quad   0x00affb000000ffff      /* 0x30 user code, 64-bit (0x33) */
        .quad   0                       /* 0x38 unused */
        /* 0x40: 64-bit TSS descriptor, 16 bytes */
        .word   RT_TSS_LIMIT            /* vCPU 0's; each vCPU's TR has its own base */
        .word   RT_TSS(0) & 0xffff
        .byte   (RT_TSS(0) >> 16) & 0xff
        .byte   0x89                    /* present, available 64-bit TSS */
        .byte   0
        .byte   (RT_TSS(0) >> 24) & 0xff
        .long   0
        .long   0

/*
 * IDT: 32 interrupt gates to the stubs, all on IST1 so that every exception
 * lands on a known stack even when the syscall stub ran at CPL 0 on the
 * application's stack. Only #BP is reachable from user mode (`int3`), as on
 * Linux; vectors 32..255 are absent.
 */
        .org RT_IDT - RT_BASE
        .set    vec, 0
        .rept   RT_EXC_VECTORS
        .word   (RT_EXCEPTION + vec * RT_EXC_STUB_SIZE) & 0xffff
        .word   KERNEL_CS
        .byte   1                                       /* IST1 */
        .byte   0x8e | (((vec == 3) & 3) << 5)         /* present, interrupt gate, DPL */
        .word   ((RT_EXCEPTION + vec * RT_EXC_STUB_SIZE) >> 16) & 0xffff
        .long   0
        .long   0
        .set    vec, vec + 1
        .endr

/*
 * TSSs, one per vCPU: the ring-0 and IST stacks (the end of the vCPU's
 * block), and an I/O permission bitmap that lets user mode reach HC_PORT and
 * nothing else. PVM runs the syscall stub at CPL 3 and checks I/O permission
 * there; IOPL 3 would open every port (and cli/sti) to the application
 * instead. Ports past the bitmap are denied.
 */
        .set    n, 0
        .rept   RT_MAX_VCPUS
        .org    RT_TSS(n) - RT_BASE
        .long   0
        .quad   RT_IST_TOP(n)   /* rsp0 */
        .quad   0               /* rsp1 */
        .quad   0               /* rsp2 */
        .quad   0
        .quad   RT_IST_TOP(n)   /* ist1 */
        .quad   0, 0, 0, 0, 0, 0
        .quad   0
        .word   0
        .word   RT_TSS_IOMAP    /* I/O map base */
        .set    port, 0
        .rept   RT_TSS_IOPORTS / 8
        .if     (port <= HC_PORT) && (HC_PORT < port + 8)
        .byte   0xff & ~(1 << (HC_PORT - port))
        .else
        .byte   0xff
        .endif
        .set    port, port + 8
        .endr
        .byte   0xff            /* the bitmap's terminator */
        .set    n, n + 1
        .endr

        .org RT_END - RT_BASE
torov_runtime_image_end:

        .section .note.GNU-stack, "", @progbits
