/*
 * points.c - the scheduling points: what the shim (and access.c, for a variant's
 * own loads and stores) calls before each shared-memory operation. In a controlled
 * execution the running actor records what it is about to do and switches back to
 * the loop (engine.c); in stress mode the point is noise (stress_runtime.c).
 */
#define _GNU_SOURCE
#include "fr_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>

/* ---- scheduling points -------------------------------------------------------------- */
void fr_point_args(int op, const volatile void *obj, int size, int64_t a, int64_t b)
{
    if (fr_mode == FR_MODE_CONTROLLED && g_cur) {
        g_cur->arg_size = size;
        g_cur->arg_a = a;
        g_cur->arg_b = b;
        fr_point(op, obj);
        g_cur->arg_size = 0;
        return;
    }
    fr_point(op, obj);
}

void fr_point_sized(int op, const volatile void *obj, int size)
{
    if (fr_mode == FR_MODE_CONTROLLED && g_cur) {
        g_cur->next_size = size;
        fr_point(op, obj);
        g_cur->next_size = 0;
        return;
    }
    fr_point(op, obj);
}

void fr_point(int op, const volatile void *obj)
{
    if (fr_mode == FR_MODE_CONTROLLED) {
        fr_actor *a = g_cur;
        if (!a)
            return;
        a->pending_op = op;
        a->pending_obj = obj;
        a->pending_list = op == FR_SP_LIST_READ || op == FR_SP_LIST_INSERT ||
                                  op == FR_SP_LIST_REMOVE
                              ? fr_pool_list_of(obj)
                              : -1;
        a->pending_size = a->next_size ? a->next_size
                          : a->arg_size ? a->arg_size
                          : (op == FR_SP_LOCK || op == FR_SP_UNLOCK) ? (int)sizeof(uintptr_t)
                                                                     : 4;
        if (a->scrub) { /* a report's text (step numbers) lies below: not state */
            fr_stack_scrub(16384);
            a->scrub = 0;
        }
        fr_ctx_swap(&a->ctx, &g_main_ctx);
        return;
    }
    if (fr_mode == FR_MODE_STRESS)
        stress_point();
}

void fr_note_write(void)
{
    if (fr_mode == FR_MODE_CONTROLLED && g_cur) {
        g_writes++;
        g_cur->writes++;
        g_wlog[g_writes & (FR_WLOG - 1)] = g_cur->pending_obj;
        g_wlog_actor[g_writes & (FR_WLOG - 1)] = (signed char)g_cur->index;
        g_wlog_size[g_writes & (FR_WLOG - 1)] = g_cur->pending_size;
    }
}

/* An instrumented access of the variant's own code (engine/access.c) to p: a
 * scheduling point when it reaches shared memory in a controlled execution (not
 * the running actor's own stack, not code run outside any actor). Returns 1 when
 * the point was taken. */
int fr_access_point(int op, const volatile void *p, int size)
{
    fr_actor *a = g_cur;
    if (fr_mode != FR_MODE_CONTROLLED || !a ||
        (uintptr_t)p - (uintptr_t)a->stack < (uintptr_t)FR_STACK_SIZE)
        return 0;
    fr_point_sized(op, p, size);
    return 1;
}

int fr_actor_cpu(int actor)
{
    return actor >= 0 && actor < g_nactors ? g_actors[actor].cpu : -1;
}

void fr_note_value(int64_t value)
{
    if (fr_mode == FR_MODE_CONTROLLED && g_cur && g_steps > 0)
        g_trace[g_steps - 1].value = value;
}

void fr_note_spin(void)
{
    if (fr_mode == FR_MODE_CONTROLLED) {
        if (g_cur)
            g_cur->spins++; /* the loop ends the iteration: spin_yield */
        return;
    }
    if (fr_mode == FR_MODE_STRESS) {
        if ((++t_op_spins & 1023) == 0) {
            double t = thread_cpu_seconds();
            if (t_op_spin_start == 0)
                t_op_spin_start = t;
            else if (t - t_op_spin_start > g_stress_spin_limit)
                /* real threads all run, so a spin that never ends is not provably a
                 * livelock here (controlled mode decides that): a budget, "timed out" */
                stress_timed_out("thread %d spun for %.1f s of its own CPU time inside one "
                                 "callback without finishing", t_actor, t - t_op_spin_start);
        }
        if ((t_op_spins & 63) == 0)
            sched_yield();
        else
            cpu_relax();
    }
}
