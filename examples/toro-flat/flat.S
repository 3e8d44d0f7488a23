/*
 * A flat binary in ToroV's ABI: raw code loaded at 0x400200, no ELF. A
 * hypercall is an `out` (any port) with the Linux syscall number in eax and
 * the arguments in rdi, rsi, rdx, r10, r8, r9; the result comes back in rax.
 * The program ends with `hlt`.
 */
        .intel_syntax noprefix
        .text
        .globl  _start
_start:
        mov     eax, 1                  /* write(1, message, length) */
        mov     edi, 1
        lea     rsi, [rip + message]
        mov     edx, message_end - message
        out     0x10, eax
        cmp     rax, message_end - message
        jne     failed
        mov     eax, 39                 /* getpid() */
        out     0x10, eax
        test    rax, rax
        jle     failed
        hlt
failed:
        mov     eax, 231                /* exit_group(1) */
        mov     edi, 1
        out     0x10, eax
        hlt

message:
        .ascii  "Hello from a ToroV flat binary\n"
message_end:
