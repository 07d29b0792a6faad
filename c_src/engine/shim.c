/*
 * shim.c - the Windows kernel primitives of wdm_shim.h over the engine.
 *
 * Each primitive is: a scheduling point naming the operation and the memory
 * it touches, the use-after-free check, the operation itself (a real atomic,
 * so stress mode on OS threads is correct too), then the bookkeeping the
 * checks need (progress for spinners, lock ownership, list linkage).
 */
#include "wdm_shim.h"
#include "fr_engine.h"

#include <sched.h>

#define SEQ __ATOMIC_SEQ_CST
#define RA __builtin_return_address(0)

/* For the data-race detector (race.c), once the operation is done: an interlocked
 * operation is a full barrier, an atomic access that acquires from its variable and,
 * when it wrote (the explorer's reading too: a failed compare-exchange only reads),
 * releases to it. */
static void interlocked(const volatile void *p, int size, int wrote, const void *pc)
{
    fr_race_acquire(p);
    fr_race_access(p, size, FR_ACC_ATOMIC | FR_ACC_SHIM | (wrote ? FR_ACC_WRITE : 0), pc);
    if (wrote)
        fr_race_release(p);
}

static void underflow_check(const volatile void *p, int64_t value, const char *op)
{
    if (value < 0 && fr_pool_flow_of(p) >= 0)
        fr_report(FR_V_REFCOUNT_UNDERFLOW, fr_pool_flow_of(p), "%s took a count of flow %d to %lld",
                  op, fr_pool_flow_of(p), (long long)value);
}

/* ---- interlocked ------------------------------------------------------------ */
LONG InterlockedIncrement(LONG volatile *Addend)
{
    fr_point(FR_SP_INC, Addend);
    fr_check_access(Addend);
    LONG v = __atomic_add_fetch(Addend, 1, SEQ);
    interlocked(Addend, 4, 1, RA);
    fr_note_write();
    fr_note_value(v);
    return v;
}

LONG InterlockedDecrement(LONG volatile *Addend)
{
    fr_point(FR_SP_DEC, Addend);
    fr_check_access(Addend);
    LONG v = __atomic_sub_fetch(Addend, 1, SEQ);
    interlocked(Addend, 4, 1, RA);
    fr_note_write();
    fr_note_value(v);
    underflow_check(Addend, v, "InterlockedDecrement");
    return v;
}

LONG InterlockedCompareExchange(LONG volatile *Destination, LONG Exchange, LONG Comperand)
{
    fr_point_args(FR_SP_CAS, Destination, 4, Exchange, Comperand);
    fr_check_access(Destination);
    LONG expected = Comperand;
    __atomic_compare_exchange_n(Destination, &expected, Exchange, 0, SEQ, SEQ);
    /* `expected` now holds the initial value, which is what Windows returns. */
    interlocked(Destination, 4, expected == Comperand && Exchange != Comperand, RA);
    if (expected == Comperand && Exchange != Comperand)
        fr_note_write();
    fr_note_value(expected);
    return expected;
}

LONG InterlockedExchange(LONG volatile *Target, LONG Value)
{
    fr_point_args(FR_SP_XCHG, Target, 4, Value, 0);
    fr_check_access(Target);
    LONG old = __atomic_exchange_n(Target, Value, SEQ);
    interlocked(Target, 4, old != Value, RA);
    if (old != Value)
        fr_note_write();
    fr_note_value(old);
    return old;
}

LONG InterlockedExchangeAdd(LONG volatile *Addend, LONG Value)
{
    fr_point_args(FR_SP_ADD, Addend, 4, Value, 0);
    fr_check_access(Addend);
    LONG old = __atomic_fetch_add(Addend, Value, SEQ);
    interlocked(Addend, 4, Value != 0, RA);
    if (Value)
        fr_note_write();
    fr_note_value(old);
    if (Value < 0)
        underflow_check(Addend, (int64_t)old + Value, "InterlockedExchangeAdd");
    return old;
}

LONG InterlockedOr(LONG volatile *Destination, LONG Value)
{
    fr_point_args(FR_SP_OR, Destination, 4, Value, 0);
    fr_check_access(Destination);
    LONG old = __atomic_fetch_or(Destination, Value, SEQ);
    interlocked(Destination, 4, (old | Value) != old, RA);
    if ((old | Value) != old)
        fr_note_write();
    fr_note_value(old);
    return old;
}

LONG InterlockedAnd(LONG volatile *Destination, LONG Value)
{
    fr_point_args(FR_SP_AND, Destination, 4, Value, 0);
    fr_check_access(Destination);
    LONG old = __atomic_fetch_and(Destination, Value, SEQ);
    interlocked(Destination, 4, (old & Value) != old, RA);
    if ((old & Value) != old)
        fr_note_write();
    fr_note_value(old);
    return old;
}

LONG64 InterlockedIncrement64(LONG64 volatile *Addend)
{
    fr_point_sized(FR_SP_INC, Addend, 8);
    fr_check_access(Addend);
    LONG64 v = __atomic_add_fetch(Addend, 1, SEQ);
    interlocked(Addend, 8, 1, RA);
    fr_note_write();
    fr_note_value(v);
    return v;
}

LONG64 InterlockedDecrement64(LONG64 volatile *Addend)
{
    fr_point_sized(FR_SP_DEC, Addend, 8);
    fr_check_access(Addend);
    LONG64 v = __atomic_sub_fetch(Addend, 1, SEQ);
    interlocked(Addend, 8, 1, RA);
    fr_note_write();
    fr_note_value(v);
    underflow_check(Addend, v, "InterlockedDecrement64");
    return v;
}

LONG64 InterlockedExchangeAdd64(LONG64 volatile *Addend, LONG64 Value)
{
    fr_point_args(FR_SP_ADD, Addend, 8, Value, 0);
    fr_check_access(Addend);
    LONG64 old = __atomic_fetch_add(Addend, Value, SEQ);
    interlocked(Addend, 8, Value != 0, RA);
    if (Value)
        fr_note_write();
    fr_note_value(old);
    return old;
}

LONG64 InterlockedCompareExchange64(LONG64 volatile *Destination, LONG64 Exchange,
                                    LONG64 Comperand)
{
    fr_point_args(FR_SP_CAS, Destination, 8, Exchange, Comperand);
    fr_check_access(Destination);
    LONG64 expected = Comperand;
    __atomic_compare_exchange_n(Destination, &expected, Exchange, 0, SEQ, SEQ);
    interlocked(Destination, 8, expected == Comperand && Exchange != Comperand, RA);
    if (expected == Comperand && Exchange != Comperand)
        fr_note_write();
    fr_note_value(expected);
    return expected;
}

PVOID InterlockedCompareExchangePointer(PVOID volatile *Destination, PVOID Exchange,
                                        PVOID Comperand)
{
    fr_point_sized(FR_SP_CAS, Destination, (int)sizeof(PVOID));
    fr_check_access(Destination);
    PVOID expected = Comperand;
    __atomic_compare_exchange_n(Destination, &expected, Exchange, 0, SEQ, SEQ);
    interlocked(Destination, (int)sizeof(PVOID), expected == Comperand && Exchange != Comperand,
                RA);
    if (expected == Comperand && Exchange != Comperand)
        fr_note_write();
    return expected;
}

PVOID InterlockedExchangePointer(PVOID volatile *Target, PVOID Value)
{
    fr_point_sized(FR_SP_XCHG, Target, (int)sizeof(PVOID));
    fr_check_access(Target);
    PVOID old = __atomic_exchange_n(Target, Value, SEQ);
    interlocked(Target, (int)sizeof(PVOID), old != Value, RA);
    if (old != Value)
        fr_note_write();
    return old;
}

LONG ReadNoFence(LONG const volatile *Source)
{
    fr_point(FR_SP_READ, Source);
    fr_check_access(Source);
    fr_race_access(Source, 4, FR_ACC_ATOMIC | FR_ACC_SHIM, RA);
    LONG v = __atomic_load_n(Source, __ATOMIC_RELAXED);
    fr_note_value(v);
    return v;
}

LONG ReadAcquire(LONG const volatile *Source)
{
    fr_point(FR_SP_READ, Source);
    fr_check_access(Source);
    fr_race_acquire(Source);
    fr_race_access(Source, 4, FR_ACC_ATOMIC | FR_ACC_SHIM, RA);
    LONG v = __atomic_load_n(Source, __ATOMIC_ACQUIRE);
    fr_note_value(v);
    return v;
}

VOID WriteNoFence(LONG volatile *Destination, LONG Value)
{
    fr_point_args(FR_SP_WRITE, Destination, 4, Value, 0);
    fr_check_access(Destination);
    fr_race_access(Destination, 4, FR_ACC_ATOMIC | FR_ACC_WRITE | FR_ACC_SHIM, RA);
    if (__atomic_exchange_n(Destination, Value, __ATOMIC_RELAXED) != Value)
        fr_note_write();
    fr_note_value(Value);
}

VOID WriteRelease(LONG volatile *Destination, LONG Value)
{
    /* a release even when the value does not change: a write for the explorer too,
     * so that the orders it tells apart are the ones the race detector does */
    fr_point(FR_SP_WRITE, Destination);
    fr_check_access(Destination);
    fr_race_access(Destination, 4, FR_ACC_ATOMIC | FR_ACC_WRITE | FR_ACC_SHIM, RA);
    fr_race_release(Destination);
    __atomic_store_n(Destination, Value, __ATOMIC_RELEASE);
    fr_note_write();
    fr_note_value(Value);
}

/* ---- spin locks --------------------------------------------------------------- */
VOID KeInitializeSpinLock(PKSPIN_LOCK SpinLock)
{
    __atomic_store_n(SpinLock, 0, __ATOMIC_RELEASE);
}

static void lock_acquire(PKSPIN_LOCK SpinLock)
{
    fr_point(FR_SP_LOCK, SpinLock);
    fr_check_access(SpinLock);
    uintptr_t me = fr_lock_owner_token();
    if (fr_mode == FR_MODE_STRESS) {
        unsigned spins = 0;
        for (;;) {
            uintptr_t expected = 0;
            if (__atomic_compare_exchange_n(SpinLock, &expected, me, 0, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED))
                break;
            if (expected == me) {
                fr_report(FR_V_DEADLOCK, fr_pool_flow_of(SpinLock),
                          "spin lock acquired twice by the same thread");
                fr_stress_abort();
            }
            if (++spins % 64 == 0) {
                fr_stress_lock_wait(SpinLock, spins); /* exits the thread on abort */
                sched_yield();
            }
        }
    } else {
        /* Controlled mode: the scheduler only lets us here when the lock is
         * free. Outside an actor (setup, checks) a held lock is a bug of the
         * variant that left it held. */
        if (__atomic_load_n(SpinLock, __ATOMIC_RELAXED) != 0 && fr_current_actor() < 0)
            fr_report(FR_V_DEADLOCK, fr_pool_flow_of(SpinLock),
                      "a spin lock is still held after every CPU finished");
        __atomic_store_n(SpinLock, me, __ATOMIC_RELEASE);
    }
    fr_lock_acquired(SpinLock);
    fr_note_write();
}

static void lock_release(PKSPIN_LOCK SpinLock)
{
    fr_point(FR_SP_UNLOCK, SpinLock);
    fr_check_access(SpinLock);
    fr_lock_released(SpinLock);
    __atomic_store_n(SpinLock, 0, __ATOMIC_RELEASE);
    fr_note_write();
}

KIRQL KfAcquireSpinLock(PKSPIN_LOCK SpinLock)
{
    KIRQL old = (KIRQL)fr_irql_get();
    fr_irql_set(DISPATCH_LEVEL);
    lock_acquire(SpinLock);
    return old;
}

VOID KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql)
{
    lock_release(SpinLock);
    fr_irql_set(NewIrql);
}

VOID KeAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock)
{
    fr_require_dispatch("KeAcquireSpinLockAtDpcLevel", SpinLock);
    lock_acquire(SpinLock);
}

VOID KeReleaseSpinLockFromDpcLevel(PKSPIN_LOCK SpinLock) { lock_release(SpinLock); }

VOID KeAcquireInStackQueuedSpinLock(PKSPIN_LOCK SpinLock, PKLOCK_QUEUE_HANDLE LockHandle)
{
    LockHandle->Lock = SpinLock;
    LockHandle->OldIrql = KfAcquireSpinLock(SpinLock);
}

VOID KeReleaseInStackQueuedSpinLock(PKLOCK_QUEUE_HANDLE LockHandle)
{
    KeReleaseSpinLock(LockHandle->Lock, LockHandle->OldIrql);
}

VOID KeAcquireInStackQueuedSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock,
                                              PKLOCK_QUEUE_HANDLE LockHandle)
{
    fr_require_dispatch("KeAcquireInStackQueuedSpinLockAtDpcLevel", SpinLock);
    LockHandle->Lock = SpinLock;
    LockHandle->OldIrql = DISPATCH_LEVEL;
    lock_acquire(SpinLock);
}

VOID KeReleaseInStackQueuedSpinLockFromDpcLevel(PKLOCK_QUEUE_HANDLE LockHandle)
{
    lock_release(LockHandle->Lock);
}

KIRQL KeGetCurrentIrql(VOID) { return (KIRQL)fr_irql_get(); }

/* Raising to DISPATCH_LEVEL takes the CPU: nothing else runs on it until the
 * IRQL drops again (the engine's CPU ownership). */
VOID KfRaiseIrql(KIRQL NewIrql, PKIRQL OldIrql)
{
    *OldIrql = (KIRQL)fr_irql_get();
    fr_irql_set(NewIrql);
}

VOID KeLowerIrql(KIRQL NewIrql) { fr_irql_set(NewIrql); }

/* ---- lists -------------------------------------------------------------------- */
static int entry_is_linked(const LIST_ENTRY *Entry)
{
    const LIST_ENTRY *f = Entry->Flink, *b = Entry->Blink;
    return f && b && f->Blink == Entry && b->Flink == Entry;
}

VOID InitializeListHead(PLIST_ENTRY ListHead)
{
    ListHead->Flink = ListHead;
    ListHead->Blink = ListHead;
}

BOOLEAN IsListEmpty(const LIST_ENTRY *ListHead)
{
    fr_point(FR_SP_LIST_READ, ListHead);
    fr_check_access(ListHead);
    return ListHead->Flink == ListHead;
}

static void link_between(PLIST_ENTRY Prev, PLIST_ENTRY Next, PLIST_ENTRY Entry)
{
    fr_check_access(Entry);
    Entry->Flink = Next;
    Entry->Blink = Prev;
    Prev->Flink = Entry;
    Next->Blink = Entry;
    fr_pool_link(Entry, +1);
    fr_note_write();
}

VOID InsertTailList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry)
{
    fr_point(FR_SP_LIST_INSERT, ListHead);
    fr_check_access(ListHead);
    link_between(ListHead->Blink, ListHead, Entry);
}

VOID InsertHeadList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry)
{
    fr_point(FR_SP_LIST_INSERT, ListHead);
    fr_check_access(ListHead);
    link_between(ListHead, ListHead->Flink, Entry);
}

static BOOLEAN unlink_entry(PLIST_ENTRY Entry)
{
    fr_check_access(Entry);
    if (!entry_is_linked(Entry)) {
        /* Windows fails fast here (FAST_FAIL_CORRUPT_LIST_ENTRY). */
        fr_report(FR_V_DOUBLE_MOVE, fr_pool_flow_of(Entry),
                  "RemoveEntryList on an entry of flow %d that is not linked (list corruption)",
                  fr_pool_flow_of(Entry));
        return FALSE;
    }
    PLIST_ENTRY f = Entry->Flink, b = Entry->Blink;
    b->Flink = f;
    f->Blink = b;
    Entry->Flink = NULL;
    Entry->Blink = NULL;
    fr_pool_link(Entry, -1);
    fr_note_write();
    return f == b;
}

BOOLEAN RemoveEntryList(PLIST_ENTRY Entry)
{
    fr_point(FR_SP_LIST_REMOVE, Entry);
    return unlink_entry(Entry);
}

PLIST_ENTRY RemoveHeadList(PLIST_ENTRY ListHead)
{
    fr_point(FR_SP_LIST_REMOVE, ListHead);
    fr_check_access(ListHead);
    PLIST_ENTRY e = ListHead->Flink;
    if (e == ListHead)
        return ListHead;
    unlink_entry(e);
    return e;
}

/* ---- pool ----------------------------------------------------------------------- */
PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag)
{
    (void)PoolType;
    fr_point(FR_SP_ALLOC, NULL);
    PVOID p = fr_pool_alloc(NumberOfBytes, Tag);
    fr_note_write();
    return p;
}

VOID ExFreePoolWithTag(PVOID P, ULONG Tag)
{
    fr_point(FR_SP_FREE, P);
    fr_pool_free(P, Tag);
    fr_note_write();
}

/* ---- waiting ----------------------------------------------------------------------- */
VOID YieldProcessor(VOID)
{
    fr_point(FR_SP_YIELD, NULL);
    fr_note_spin();
}

VOID KeStallExecutionProcessor(ULONG MicroSeconds)
{
    (void)MicroSeconds;
    fr_point(FR_SP_STALL, NULL);
    fr_note_spin();
}
