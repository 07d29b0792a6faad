/* fr_ctx.c - see fr_ctx.h. */
#define _GNU_SOURCE
#include "fr_ctx.h"

#include <stdint.h>

#ifdef FR_USE_UCONTEXT

void fr_ctx_make(fr_ctx *ctx, void *stack, size_t size, void (*entry)(void))
{
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = stack;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, entry, 0);
}

void fr_ctx_swap(fr_ctx *from, fr_ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}

#else

/* void fr_ctx_switch(void **save_sp, void *new_sp): push the callee-saved
 * registers, save the stack pointer, load the other one, pop, return. */
void fr_ctx_switch(void **save_sp, void *new_sp);

#if defined(__x86_64__)
__asm__(".text\n"
        ".globl fr_ctx_switch\n"
        ".hidden fr_ctx_switch\n"
        ".type fr_ctx_switch,@function\n"
        "fr_ctx_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size fr_ctx_switch,.-fr_ctx_switch\n"
        ".section .note.GNU-stack,\"\",@progbits\n"
        ".text\n");

void fr_ctx_make(fr_ctx *ctx, void *stack, size_t size, void (*entry)(void))
{
    uintptr_t *sp = (uintptr_t *)(((uintptr_t)stack + size) & ~(uintptr_t)15);
    *--sp = 0;                  /* entry's (never used) return address      */
    *--sp = (uintptr_t)entry;   /* where fr_ctx_switch's ret lands          */
    for (int i = 0; i < 6; i++) /* rbp rbx r12 r13 r14 r15                  */
        *--sp = 0;
    ctx->sp = sp;
}

#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl fr_ctx_switch\n"
        ".hidden fr_ctx_switch\n"
        ".type fr_ctx_switch,%function\n"
        "fr_ctx_switch:\n"
        "    sub sp, sp, #176\n"
        "    stp x19, x20, [sp, #0]\n"
        "    stp x21, x22, [sp, #16]\n"
        "    stp x23, x24, [sp, #32]\n"
        "    stp x25, x26, [sp, #48]\n"
        "    stp x27, x28, [sp, #64]\n"
        "    stp x29, x30, [sp, #80]\n"
        "    stp d8, d9, [sp, #96]\n"
        "    stp d10, d11, [sp, #112]\n"
        "    stp d12, d13, [sp, #128]\n"
        "    stp d14, d15, [sp, #144]\n"
        "    mov x9, sp\n"
        "    str x9, [x0]\n"
        "    mov sp, x1\n"
        "    ldp x19, x20, [sp, #0]\n"
        "    ldp x21, x22, [sp, #16]\n"
        "    ldp x23, x24, [sp, #32]\n"
        "    ldp x25, x26, [sp, #48]\n"
        "    ldp x27, x28, [sp, #64]\n"
        "    ldp x29, x30, [sp, #80]\n"
        "    ldp d8, d9, [sp, #96]\n"
        "    ldp d10, d11, [sp, #112]\n"
        "    ldp d12, d13, [sp, #128]\n"
        "    ldp d14, d15, [sp, #144]\n"
        "    add sp, sp, #176\n"
        "    ret\n"
        ".size fr_ctx_switch,.-fr_ctx_switch\n"
        ".section .note.GNU-stack,\"\",%progbits\n"
        ".text\n");

void fr_ctx_make(fr_ctx *ctx, void *stack, size_t size, void (*entry)(void))
{
    uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
    uintptr_t *frame = (uintptr_t *)(top - 176);
    for (int i = 0; i < 22; i++)
        frame[i] = 0;
    frame[11] = (uintptr_t)entry; /* x30: where ret lands */
    ctx->sp = frame;
}
#endif

void fr_ctx_swap(fr_ctx *from, fr_ctx *to)
{
    fr_ctx_switch(&from->sp, to->sp);
}

#endif
