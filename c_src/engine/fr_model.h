/*
 * fr_model.h - the engine's only view of the model it runs: one table of
 * function pointers that the model registers (the driver core does, in
 * core/harness.c), and the hook through which a caller's strategy picks the next
 * actor (FR_STRAT_CALLBACK; the Python binding registers fr_py_pick). The engine
 * calls nothing else of the model, so engine/ compiles, links and runs
 * executions without core/ (tests/engine runs it with a toy model).
 *
 * A scenario (FR_SCENARIO_SPEC) is, to the engine, actors on CPUs running
 * operations in order, each operation owning consecutive events (op->event on)
 * that others may wait for (op->after) and starting at op->irql; what an
 * operation does, and what the flows are, is the model's.
 */
#ifndef FLOWRACE_FR_MODEL_H
#define FLOWRACE_FR_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "fr_api.h"

typedef struct fr_model {
    /* Validation, before anything runs: the number of events (>= 1) that operation
     * `op` owns from op->event on. The engine ends the first... */
    int (*op_events)(const FR_OP_SPEC *op);
    /* ... and asks whether the model can perform it: 0, or -1 with a one-line reason
     * in why (it becomes "operation K: <why>", FR_ERR_SPEC). */
    int (*check_op)(const FR_SCENARIO_SPEC *sc, int op, char *why, size_t n);
    /* Outside every actor, before any runs: create the scenario's objects (pool
     * blocks tagged with their index, fr_pool_tag_flow; fr_register_global for named
     * globals; fr_register_state for any other memory of the model an execution
     * changes: the stateful search's checkpoints restore exactly these, and the
     * registrations are forgotten before each setup). Nonzero: they could not be
     * created (FR_ERR_RESOURCES). */
    int (*setup)(const FR_SCENARIO_SPEC *sc);
    /* On actor `actor`'s coroutine: perform scenario operation `op`. Its first event
     * has begun and its IRQL is set; the model ends each event but the last with
     * fr_event_advance, the engine ends the last when do_op returns. Every shared
     * access goes through the shim (or the access instrumentation): a scheduling
     * point. */
    void (*do_op)(int actor, int op);
    /* The settle actor's work, after every actor is done (the user-space poll that
     * follows the scenario). */
    void (*settle)(void);
    /* Once an execution has run to its end (everyone done): the model's own checks
     * (the leak check), reported with fr_report. */
    void (*check_quiescent)(void);
    /* Describe a field for reports: the name of the field at byte `offset` of a model
     * object (a pool block tagged with an index), NULL if none; *start: its first
     * byte. */
    const char *(*describe_field)(int offset, int *start);
    /* The byte offset, in a model object, of a word that is not state and is left
     * out of state hashes (the flows' Timestamp: the step number), -1 for none. */
    int unhashed_offset;
} fr_model;

/* The model every execution runs from now on (NULL: none; fr_run then fails). */
void fr_model_register(const fr_model *model);

/* FR_STRAT_CALLBACK: the hook asked at every scheduling point which enabled actor
 * (a bit of `enabled`) runs next; anything else is an FR_ERR_CALLBACK error. */
typedef int (*fr_pick_hook)(int step, uint32_t enabled, int current);
void fr_set_pick_hook(fr_pick_hook hook);

#endif
