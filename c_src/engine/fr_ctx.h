/*
 * fr_ctx.h - coroutine contexts for controlled mode: every simulated CPU runs
 * on its own stack, all on one OS thread. A switch is a handful of register
 * moves (x86-64 and AArch64 assembly); other targets, and sanitizer builds,
 * use ucontext.
 */
#ifndef FLOWRACE_FR_CTX_H
#define FLOWRACE_FR_CTX_H

#include <stddef.h>

#if !defined(FR_USE_UCONTEXT) && !(defined(__x86_64__) || defined(__aarch64__))
#define FR_USE_UCONTEXT 1
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#ifndef FR_USE_UCONTEXT
#define FR_USE_UCONTEXT 1
#endif
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#ifndef FR_USE_UCONTEXT
#define FR_USE_UCONTEXT 1
#endif
#endif
#endif

#ifdef FR_USE_UCONTEXT
#include <ucontext.h>
typedef struct fr_ctx {
    ucontext_t uc;
} fr_ctx;
#else
typedef struct fr_ctx {
    void *sp;
} fr_ctx;
#endif

/* Prepare `ctx` to run entry() on [stack, stack+size) when first switched to.
 * entry() must never return. */
void fr_ctx_make(fr_ctx *ctx, void *stack, size_t size, void (*entry)(void));
/* Save the running context into `from` and resume `to`. */
void fr_ctx_swap(fr_ctx *from, fr_ctx *to);

#endif
