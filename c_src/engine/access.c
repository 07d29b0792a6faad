/*
 * access.c - the entry points of GCC's (and Clang's) ThreadSanitizer
 * instrumentation, implemented by flowrace instead of a sanitizer runtime.
 *
 * A driver variant (and only the variant: the engine, shim and core are compiled
 * without it) is compiled with -fsanitize=thread --param tsan-distinguish-volatile=1
 * --param tsan-instrument-func-entry-exit=0 (kernel_model/_build.py), so every load
 * and store its C code makes is a call to __tsan_read4, __tsan_volatile_write8, ...
 * and every C11/GNU atomic a call to __tsan_atomic32_fetch_add, ... The module links
 * these definitions, never libtsan.
 *
 * In a controlled execution an access to shared memory (anything but the running
 * actor's own stack) is
 *   - a scheduling point (FR_SP_PLAIN_READ/WRITE, FR_SP_VOLATILE_READ/WRITE,
 *     FR_SP_ATOMIC) with its address and size, so every strategy, and the explorer's
 *     dependencies, see it;
 *   - a checked access: use after free, and out of bounds (a block's redzone, or
 *     arena memory no block was given);
 *   - input to the data-race detector (race.c). An aligned volatile access of at
 *     most 8 bytes is a relaxed atomic access (the Windows kernel's reading of
 *     volatile); any other volatile access is plain.
 * Code outside every actor (flow creation) is neither. In stress mode (real
 * threads) only the memory check runs. Under the real ThreadSanitizer (flowrace
 * sanitize) this file is empty: libtsan defines these symbols.
 */
#include "fr_engine.h"

#include <string.h>

#if !defined(__SANITIZE_THREAD__)

#define RA __builtin_return_address(0)
#define API __attribute__((visibility("hidden")))

static inline int64_t load_value(const volatile void *p, int size)
{
    switch (size) {
    case 1: return *(const volatile uint8_t *)p;
    case 2: return *(const volatile uint16_t *)p;
    case 4: return *(const volatile int32_t *)p;
    case 8: return *(const volatile int64_t *)p;
    default: return 0;
    }
}

static inline void hook(const volatile void *p, int size, int flags, const void *pc)
{
    if (fr_mode == FR_MODE_IDLE)
        return;
    int write = flags & FR_ACC_WRITE;
    if ((flags & FR_ACC_VOLATILE) && size <= 8 && ((uintptr_t)p & (uintptr_t)(size - 1)) == 0)
        flags |= FR_ACC_ATOMIC;
    int op = (flags & FR_ACC_VOLATILE) ? (write ? FR_SP_VOLATILE_WRITE : FR_SP_VOLATILE_READ)
                                       : (write ? FR_SP_PLAIN_WRITE : FR_SP_PLAIN_READ);
    if (!fr_access_point(op, p, size)) {
        if (fr_mode == FR_MODE_STRESS)
            fr_check_range(p, size, write, pc);
        return;
    }
    fr_check_range(p, size, write, pc);
    fr_race_access(p, size, flags, pc);
    if (write)
        fr_note_write();
    else if (size <= 8 && ((uintptr_t)p & (uintptr_t)(size - 1)) == 0)
        fr_note_value(load_value(p, size));
}

#define SIZED(n)                                                                              \
    API void __tsan_read##n(void *p) { hook(p, n, 0, RA); }                                   \
    API void __tsan_write##n(void *p) { hook(p, n, FR_ACC_WRITE, RA); }                       \
    API void __tsan_volatile_read##n(void *p) { hook(p, n, FR_ACC_VOLATILE, RA); }            \
    API void __tsan_volatile_write##n(void *p) { hook(p, n, FR_ACC_VOLATILE | FR_ACC_WRITE, RA); }
SIZED(1)
SIZED(2)
SIZED(4)
SIZED(8)
SIZED(16)

#define UNALIGNED(n)                                                                          \
    API void __tsan_unaligned_read##n(void *p) { hook(p, n, 0, RA); }                         \
    API void __tsan_unaligned_write##n(void *p) { hook(p, n, FR_ACC_WRITE, RA); }             \
    API void __tsan_unaligned_volatile_read##n(void *p) { hook(p, n, FR_ACC_VOLATILE, RA); }  \
    API void __tsan_unaligned_volatile_write##n(void *p)                                      \
    {                                                                                         \
        hook(p, n, FR_ACC_VOLATILE | FR_ACC_WRITE, RA);                                       \
    }
UNALIGNED(2)
UNALIGNED(4)
UNALIGNED(8)
UNALIGNED(16)

API void __tsan_read_range(void *p, unsigned long size) { hook(p, (int)size, 0, RA); }
API void __tsan_write_range(void *p, unsigned long size) { hook(p, (int)size, FR_ACC_WRITE, RA); }
API void __tsan_init(void) {}
API void __tsan_func_entry(void *pc) { (void)pc; }
API void __tsan_func_exit(void) {}
API void __tsan_vptr_update(void **p, void *v) { (void)p; (void)v; }
API void __tsan_vptr_read(void **p) { (void)p; }

/* ---- C11/GNU atomics: an atomic access, ordered by its memory order -------------------
 * An acquire (or stronger) order acquires from the variable, a release (or stronger)
 * releases to it; seq_cst is acquire+release on the variable (like an interlocked
 * operation), not a total order. Fences order nothing here. */
static inline int mo_acquires(int mo) { return mo == 1 || mo == 2 || mo >= 4; }
static inline int mo_releases(int mo) { return mo >= 3; }

static inline int atomic_before(const volatile void *p, int size, int op, int mo, const void *pc)
{
    if (fr_mode == FR_MODE_IDLE)
        return 0;
    if (!fr_access_point(op, p, size)) {
        if (fr_mode == FR_MODE_STRESS)
            fr_check_range(p, size, op != FR_SP_VOLATILE_READ, pc);
        return 0;
    }
    fr_check_range(p, size, op != FR_SP_VOLATILE_READ, pc);
    if (mo_acquires(mo))
        fr_race_acquire(p);
    fr_race_access(p, size, FR_ACC_ATOMIC | (op != FR_SP_VOLATILE_READ ? FR_ACC_WRITE : 0), pc);
    return 1;
}

static inline void atomic_after(const volatile void *p, int op, int mo, int wrote)
{
    if (mo_releases(mo) && op != FR_SP_VOLATILE_READ)
        fr_race_release(p);
    if (wrote)
        fr_note_write();
}

#define SEQ __ATOMIC_SEQ_CST
#define ATOMICS(bits, T)                                                                      \
    API T __tsan_atomic##bits##_load(const volatile T *a, int mo)                             \
    {                                                                                         \
        int on = atomic_before(a, sizeof(T), FR_SP_VOLATILE_READ, mo, RA);                    \
        T v = __atomic_load_n(a, SEQ);                                                        \
        if (on)                                                                               \
            atomic_after(a, FR_SP_VOLATILE_READ, mo, 0);                                      \
        return v;                                                                             \
    }                                                                                         \
    API void __tsan_atomic##bits##_store(volatile T *a, T v, int mo)                          \
    {                                                                                         \
        int on = atomic_before(a, sizeof(T), FR_SP_VOLATILE_WRITE, mo, RA);                   \
        __atomic_store_n(a, v, SEQ);                                                          \
        if (on)                                                                               \
            atomic_after(a, FR_SP_VOLATILE_WRITE, mo, 1);                                     \
    }                                                                                         \
    RMW(bits, T, exchange, __atomic_exchange_n(a, v, SEQ))                                    \
    RMW(bits, T, fetch_add, __atomic_fetch_add(a, v, SEQ))                                    \
    RMW(bits, T, fetch_sub, __atomic_fetch_sub(a, v, SEQ))                                    \
    RMW(bits, T, fetch_and, __atomic_fetch_and(a, v, SEQ))                                    \
    RMW(bits, T, fetch_or, __atomic_fetch_or(a, v, SEQ))                                      \
    RMW(bits, T, fetch_xor, __atomic_fetch_xor(a, v, SEQ))                                    \
    RMW(bits, T, fetch_nand, __atomic_fetch_nand(a, v, SEQ))                                  \
    API int __tsan_atomic##bits##_compare_exchange_strong(volatile T *a, T *c, T v, int mo,   \
                                                          int fmo)                            \
    {                                                                                         \
        (void)fmo;                                                                            \
        int on = atomic_before(a, sizeof(T), FR_SP_ATOMIC, mo, RA);                           \
        int ok = __atomic_compare_exchange_n(a, c, v, 0, SEQ, SEQ);                           \
        if (on)                                                                               \
            atomic_after(a, FR_SP_ATOMIC, mo, ok);                                            \
        return ok;                                                                            \
    }                                                                                         \
    API int __tsan_atomic##bits##_compare_exchange_weak(volatile T *a, T *c, T v, int mo,     \
                                                        int fmo)                              \
    {                                                                                         \
        (void)fmo;                                                                            \
        int on = atomic_before(a, sizeof(T), FR_SP_ATOMIC, mo, RA);                           \
        int ok = __atomic_compare_exchange_n(a, c, v, 0, SEQ, SEQ);                           \
        if (on)                                                                               \
            atomic_after(a, FR_SP_ATOMIC, mo, ok);                                            \
        return ok;                                                                            \
    }                                                                                         \
    API T __tsan_atomic##bits##_compare_exchange_val(volatile T *a, T c, T v, int mo,         \
                                                     int fmo)                                 \
    {                                                                                         \
        (void)fmo;                                                                            \
        int on = atomic_before(a, sizeof(T), FR_SP_ATOMIC, mo, RA);                           \
        T expected = c;                                                                       \
        int ok = __atomic_compare_exchange_n(a, &expected, v, 0, SEQ, SEQ);                   \
        if (on)                                                                               \
            atomic_after(a, FR_SP_ATOMIC, mo, ok);                                            \
        return expected;                                                                      \
    }

#define RMW(bits, T, name, expr)                                                              \
    API T __tsan_atomic##bits##_##name(volatile T *a, T v, int mo)                            \
    {                                                                                         \
        int on = atomic_before(a, sizeof(T), FR_SP_ATOMIC, mo, RA);                           \
        T old = expr;                                                                         \
        if (on)                                                                               \
            atomic_after(a, FR_SP_ATOMIC, mo, 1);                                             \
        return old;                                                                           \
    }

ATOMICS(8, uint8_t)
ATOMICS(16, uint16_t)
ATOMICS(32, uint32_t)
ATOMICS(64, uint64_t)

API void __tsan_atomic_thread_fence(int mo) { __atomic_thread_fence(SEQ); (void)mo; }
API void __tsan_atomic_signal_fence(int mo) { (void)mo; }

#endif /* !__SANITIZE_THREAD__ */
