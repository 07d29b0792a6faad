/*
 * fr_engine.h - the engine behind the shim: scheduling points, checks,
 * pool bookkeeping, events. Variants never include this; the shim
 * (shim.c), the driver core and the harness do.
 */
#ifndef FLOWRACE_FR_ENGINE_H
#define FLOWRACE_FR_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include "fr_api.h"

#define FR_MODE_IDLE 0
#define FR_MODE_CONTROLLED 1
#define FR_MODE_STRESS 2

#define FR_MAX_ACTORS 32

extern int fr_mode;

/* --- scheduling ---------------------------------------------------------- */
/* A scheduling point right before operation `op` on `obj`. Returns when this
 * actor is chosen to perform it. No-op outside an actor. */
void fr_point(int op, const volatile void *obj);
/* The same, naming the operands of a value-dependent operation (compare-exchange:
 * a = exchange, b = comparand; exchange, add, or, and, write: a = the value), so
 * that the explorer knows whether it would write. size is 4 or 8 bytes. */
void fr_point_args(int op, const volatile void *obj, int size, int64_t a, int64_t b);
/* The same, for an operation on `size` bytes (fr_point assumes 4, a lock's word). */
void fr_point_sized(int op, const volatile void *obj, int size);
/* An instrumented access (engine/access.c): a scheduling point when p is shared
 * memory in a controlled execution (not the running actor's own stack, not code
 * outside every actor). Returns 1 when the point was taken. */
int fr_access_point(int op, const volatile void *p, int size);
int fr_actor_cpu(int actor);
/* The operation just performed changed shared memory (progress for spinners). */
void fr_note_write(void);
/* Record the value the last operation produced, for the trace. */
void fr_note_value(int64_t value);
/* The operation just performed was a spin hint: wait for another CPU's write. */
void fr_note_spin(void);

/* IRQL of the running actor (PASSIVE when no actor runs). */
int fr_irql_get(void);
void fr_irql_set(int irql);

/* The variant hook the running actor (or stress thread) is in, for messages: the core
 * sets it around each hook call (FR_HOOK) and gets the previous one back. */
const char *fr_hook_set(const char *hook);
const char *fr_current_hook(void);
/* A call that requires DISPATCH_LEVEL (`call`, e.g. KeAcquireSpinLockAtDpcLevel, on
 * `obj`): an `irql` finding naming the hook, the level and the call when it runs below. */
void fr_require_dispatch(const char *call, const volatile void *obj);

/* Lock bookkeeping done by the shim's spin locks. */
uintptr_t fr_lock_owner_token(void);
void fr_lock_acquired(const volatile void *lock);
void fr_lock_released(const volatile void *lock);

/* --- checks ---------------------------------------------------------------- */
void fr_report(int kind, int flow, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Check that p does not point into a freed pool block (use after free), nor
 * outside every live block of the pool's arena (out of bounds). */
void fr_check_access(const volatile void *p);
/* The same for [p, p+size): write 1 a write, 0 a read, -1 a shim operation; pc the
 * instruction that made it (named in the report), NULL for a shim operation. */
void fr_check_range(const volatile void *p, int size, int write, const void *pc);
/* "@pc:HEX@" (the code address as an offset in its module; Python names file:line). */
void fr_pc_text(const void *pc, char *buf, size_t n);
/* "flow 0 AssocCount", "openFlowsLock", "flow 1 +200", or the address. */
void fr_describe_addr(const volatile void *p, char *buf, size_t n);

/* --- pool ---------------------------------------------------------------- */
void *fr_pool_alloc(size_t size, uint32_t tag);
void fr_pool_free(void *p, uint32_t tag);
void fr_pool_tag_flow(void *p, int flow);
int fr_pool_flow_of(const volatile void *p);
void fr_pool_link(const volatile void *entry, int delta);
int fr_pool_is_freed(const volatile void *p);

/* --- happens-before data-race detector (race.c) ------------------------------ */
#define FR_ACC_WRITE 1    /* the access writes */
#define FR_ACC_ATOMIC 2   /* volatile (aligned, <= 8 bytes), interlocked or __atomic */
#define FR_ACC_VOLATILE 4 /* it came from a volatile access (for the report) */
#define FR_ACC_SHIM 8     /* it came from a shim call (for the report) */
int fr_race_reset(int nactors, int nevents); /* -1: out of memory */
/* The running actor accesses [p, p+size): check it against the other CPUs'
 * accesses, then remember it. */
void fr_race_access(const volatile void *p, int size, int flags, const void *pc);
/* Synchronisation of the running actor on the object `sync` (a lock's word, an
 * interlocked variable): acquire joins the object's clock into the actor's, release
 * joins the actor's into the object's and starts a new epoch. */
void fr_race_acquire(const volatile void *sync);
void fr_race_release(const volatile void *sync);
/* Actor `actor` ended scenario event `event` / begins scenario operation `op`
 * (-1: the settle poll, after everyone). */
void fr_race_event_end(int actor, int event);
void fr_race_op_begin(int actor, int op);
/* The stateful search (stateful.c): set when a plain access was recorded; the order of
 * the detector's epochs and clocks, mixed into h (history-free). */
extern int fr_race_plain_seen;
void fr_race_fingerprint(uint64_t h[2]);
/* Set by the stateful search for an execution while no plain access was seen since it
 * began: nothing can race yet, and the detector rests (it only notes a plain access,
 * whose first sight makes the search start over with it awake). */
extern int fr_race_off;

/* --- naming of globals for the trace ---------------------------------------- */
void fr_register_global(const volatile void *p, size_t size, const char *name);
/* Memory of the model, outside the pool and the registered globals, that an execution
 * changes but that is no state of its own (it follows from the state: a count of the
 * flows in a table, statistics, how many deletes an operation list has run): not in
 * the fingerprint, but a checkpoint of the stateful search keeps and restores it
 * (checkpoint.c). The model registers it in its setup, as the globals. */
void fr_register_state(volatile void *p, size_t size);

/* --- events ------------------------------------------------------------------ */
/* The running actor has finished its current event and starts the next one of
 * the same operation (classify: "reference taken" -> "released"). */
void fr_event_advance(void);

/* --- engine state the model reads (the model registers itself: fr_model.h) --- */
const FR_SCENARIO_SPEC *fr_scenario(void);
int fr_current_actor(void);
int fr_current_step(void);
/* A flow's Timestamp: the step number, or 0 in a stateful search (stateful.c), where a
 * history count held in an actor's locals would tell equal states apart. */
int64_t fr_timestamp(void);
/* During a stateful search (stateful.c): clear `bytes` of the running actor's stack below
 * the caller's frame, what earlier frames left there (history, not state). */
void fr_stack_scrub(size_t bytes);
void fr_add_record(const FR_POLL_RECORD *rec);

/* --- stress mode (stress_runtime.c), driven by core/stress.c ---------- */
int fr_stress_prepare(size_t arena_bytes, int noise_permille, int hold_spins,
                      double hang_cpu_seconds);
void fr_stress_thread_init(int index, uint64_t seed);
void fr_stress_op_begin(int irql);
int fr_stress_aborted(void);
void fr_stress_abort(void);
/* A stress thread has spun `spins` times for a spin lock: leave on abort, report a
 * deadlock when the wait is part of a cycle of the waits-for graph, stop the run as
 * timed out when it has spun past the budget of CPU time without one. */
void fr_stress_lock_wait(const volatile void *lock, unsigned spins);
void fr_stress_finish(void);

#endif
