/*
 * wdm_shim.h - the Windows kernel primitives a flowrace driver variant may use.
 *
 * This is the only kernel header a variant sees (through flowdata.h). Every
 * primitive keeps its Windows semantics exactly:
 *
 *   InterlockedCompareExchange(dst, exch, cmp)  returns the INITIAL value;
 *                                               success means ret == cmp.
 *   InterlockedIncrement/Decrement             return the NEW value.
 *   InterlockedExchange/ExchangeAdd/Or/And     return the INITIAL value.
 *   every interlocked operation is a full barrier.
 *
 * Every primitive here, and every explicit access to a shared field
 * (ReadNoFence/WriteNoFence/ReadAcquire/WriteRelease), is a scheduling point:
 * in controlled mode the deterministic scheduler may switch simulated CPUs
 * right before it; in stress mode it may inject seeded noise. So is every plain
 * or volatile C load and store the variant makes of shared memory: the variant
 * is compiled with access instrumentation (engine/access.c), and the engine
 * checks those accesses and looks for data races among them.
 *
 * The engine behind the calls (engine/) also checks what the code does: use
 * after free, double free, freeing a block that is still linked into a list,
 * refcount underflow, a spin lock taken twice or in inverted order, and a spin
 * (YieldProcessor, KeStallExecutionProcessor) that no other CPU can end.
 */
#ifndef FLOWRACE_WDM_SHIM_H
#define FLOWRACE_WDM_SHIM_H

#include <stddef.h>
#include <stdint.h>

/* ---- integer types and basic macros ------------------------------------ */
typedef void VOID, *PVOID;
typedef unsigned char BOOLEAN, *PBOOLEAN;
typedef unsigned char UCHAR, *PUCHAR;
typedef unsigned short USHORT, *PUSHORT;
typedef int32_t LONG, *PLONG;
typedef uint32_t ULONG, *PULONG;
typedef int64_t LONG64, *PLONG64, LONGLONG;
typedef uint64_t ULONG64, *PULONG64, ULONGLONG, UINT64;
typedef uint32_t UINT32;
typedef uint16_t UINT16;
typedef uint8_t UINT8;
typedef uintptr_t ULONG_PTR, *PULONG_PTR;
typedef size_t SIZE_T;
typedef LONG NTSTATUS;
typedef UCHAR KIRQL, *PKIRQL;

#ifndef TRUE
#define TRUE 1
#define FALSE 0
#endif
#ifndef NULL
#define NULL ((void *)0)
#endif

#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#define STATUS_PENDING ((NTSTATUS)0x00000103L)
#define STATUS_NOT_FOUND ((NTSTATUS)0xC0000225L)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009AL)
#define NT_SUCCESS(Status) (((NTSTATUS)(Status)) >= 0)

#define PASSIVE_LEVEL 0
#define APC_LEVEL 1
#define DISPATCH_LEVEL 2

#define UNREFERENCED_PARAMETER(P) ((void)(P))
#define FORCEINLINE static inline
#define CONTAINING_RECORD(address, type, field) \
    ((type *)((char *)(address) - offsetof(type, field)))

/* SAL annotations read like the real thing and compile to nothing. */
#define _IRQL_requires_max_(irql)
#define _IRQL_requires_(irql)
#define _IRQL_raises_(irql)
#define _Requires_lock_held_(lock)
#define _Requires_lock_not_held_(lock)
#define _Acquires_lock_(lock)
#define _Releases_lock_(lock)
#define _In_
#define _In_opt_
#define _Out_
#define _Inout_
#define _Must_inspect_result_

/* ---- interlocked operations --------------------------------------------- */
LONG InterlockedIncrement(LONG volatile *Addend);
LONG InterlockedDecrement(LONG volatile *Addend);
LONG InterlockedCompareExchange(LONG volatile *Destination, LONG Exchange, LONG Comperand);
LONG InterlockedExchange(LONG volatile *Target, LONG Value);
LONG InterlockedExchangeAdd(LONG volatile *Addend, LONG Value);
LONG InterlockedOr(LONG volatile *Destination, LONG Value);
LONG InterlockedAnd(LONG volatile *Destination, LONG Value);
LONG64 InterlockedIncrement64(LONG64 volatile *Addend);
LONG64 InterlockedDecrement64(LONG64 volatile *Addend);
LONG64 InterlockedExchangeAdd64(LONG64 volatile *Addend, LONG64 Value);
LONG64 InterlockedCompareExchange64(LONG64 volatile *Destination, LONG64 Exchange,
                                    LONG64 Comperand);
PVOID InterlockedCompareExchangePointer(PVOID volatile *Destination, PVOID Exchange,
                                        PVOID Comperand);
PVOID InterlockedExchangePointer(PVOID volatile *Target, PVOID Value);

/* Explicit accesses to shared fields (wdm.h names): relaxed atomics, and
 * ReadAcquire/WriteRelease order as their names say. */
LONG ReadNoFence(LONG const volatile *Source);
LONG ReadAcquire(LONG const volatile *Source);
VOID WriteNoFence(LONG volatile *Destination, LONG Value);
VOID WriteRelease(LONG volatile *Destination, LONG Value);

/* ---- spin locks and IRQL ------------------------------------------------ */
typedef ULONG_PTR KSPIN_LOCK, *PKSPIN_LOCK;

typedef struct _KLOCK_QUEUE_HANDLE {
    PKSPIN_LOCK Lock;
    KIRQL OldIrql;
} KLOCK_QUEUE_HANDLE, *PKLOCK_QUEUE_HANDLE;

VOID KeInitializeSpinLock(PKSPIN_LOCK SpinLock);
KIRQL KfAcquireSpinLock(PKSPIN_LOCK SpinLock);
#define KeAcquireSpinLock(SpinLock, OldIrql) (*(OldIrql) = KfAcquireSpinLock(SpinLock))
VOID KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql);
VOID KeAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock);
VOID KeReleaseSpinLockFromDpcLevel(PKSPIN_LOCK SpinLock);
VOID KeAcquireInStackQueuedSpinLock(PKSPIN_LOCK SpinLock, PKLOCK_QUEUE_HANDLE LockHandle);
VOID KeReleaseInStackQueuedSpinLock(PKLOCK_QUEUE_HANDLE LockHandle);
VOID KeAcquireInStackQueuedSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock,
                                              PKLOCK_QUEUE_HANDLE LockHandle);
VOID KeReleaseInStackQueuedSpinLockFromDpcLevel(PKLOCK_QUEUE_HANDLE LockHandle);
KIRQL KeGetCurrentIrql(VOID);
VOID KfRaiseIrql(KIRQL NewIrql, PKIRQL OldIrql);
#define KeRaiseIrql(NewIrql, OldIrql) KfRaiseIrql((NewIrql), (OldIrql))
VOID KeLowerIrql(KIRQL NewIrql);

/* ---- doubly linked lists ------------------------------------------------ */
typedef struct _LIST_ENTRY {
    struct _LIST_ENTRY *volatile Flink;
    struct _LIST_ENTRY *volatile Blink;
} LIST_ENTRY, *PLIST_ENTRY;

VOID InitializeListHead(PLIST_ENTRY ListHead);
BOOLEAN IsListEmpty(const LIST_ENTRY *ListHead);
VOID InsertTailList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry);
VOID InsertHeadList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry);
BOOLEAN RemoveEntryList(PLIST_ENTRY Entry); /* TRUE when the list is now empty */
PLIST_ENTRY RemoveHeadList(PLIST_ENTRY ListHead);

/* ---- pool --------------------------------------------------------------- */
typedef enum _POOL_TYPE { NonPagedPool = 0, NonPagedPoolNx = 512 } POOL_TYPE;

PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag);
VOID ExFreePoolWithTag(PVOID P, ULONG Tag);

/* ---- waiting ------------------------------------------------------------ */
/* Both are spin hints: in controlled mode the caller waits until another CPU
 * writes shared memory; if no other CPU can, the engine reports a livelock. */
VOID YieldProcessor(VOID);
VOID KeStallExecutionProcessor(ULONG MicroSeconds);

#endif /* FLOWRACE_WDM_SHIM_H */
