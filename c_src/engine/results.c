/*
 * results.c - what an execution leaves for its caller: violations (fr_report and
 * their read-out), the records of the user-space polls, and the step trace as
 * steps (fr_step, fr_trace_bulk, fr_spin_steps).
 */
#define _GNU_SOURCE
#include "fr_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

FR_VIOLATION g_viol[FR_MAX_VIOLATIONS];
int g_nviol;
static FR_POLL_RECORD *g_records;
int g_nrec, g_rec_cap;

/* ---- violations --------------------------------------------------------------- */
void fr_report(int kind, int flow, const char *fmt, ...)
{
    if (fr_mode == FR_MODE_STRESS)
        pthread_mutex_lock(&g_lock);
    int dup = 0;
    for (int i = 0; i < g_nviol; i++)
        if (g_viol[i].kind == kind && g_viol[i].flow == flow)
            dup = 1;
    if (!dup && g_nviol < FR_MAX_VIOLATIONS) {
        FR_VIOLATION *v = &g_viol[g_nviol++];
        v->kind = kind;
        v->flow = flow;
        v->actor = fr_current_actor();
        if (v->actor < 0 && fr_mode == FR_MODE_CONTROLLED)
            v->actor = g_nactors - 1; /* found after everyone finished: the settle check */
        v->step = fr_mode == FR_MODE_CONTROLLED ? g_steps - 1 : -1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->detail, sizeof v->detail, fmt, ap);
        va_end(ap);
        if (g_run && g_run->stop_on_violation && fr_mode == FR_MODE_CONTROLLED)
            g_abort = 1;
        if (fr_mode == FR_MODE_CONTROLLED && g_cur)
            g_cur->scrub = 1;
    }
    if (fr_mode == FR_MODE_STRESS)
        pthread_mutex_unlock(&g_lock);
}

/* ---- records -------------------------------------------------------------------- */
void fr_add_record(const FR_POLL_RECORD *rec)
{
    if (fr_mode == FR_MODE_STRESS)
        return; /* stress polls are counted, not kept */
    if (g_nrec == g_rec_cap) {
        int cap = g_rec_cap ? g_rec_cap * 2 : 64;
        FR_POLL_RECORD *nr = realloc(g_records, sizeof(FR_POLL_RECORD) * (size_t)cap);
        if (!nr)
            return;
        g_records = nr;
        g_rec_cap = cap;
    }
    g_records[g_nrec] = *rec;
    g_records[g_nrec].step = g_steps - 1;
    g_nrec++;
}

uint32_t fr_violation_kinds(void)
{
    uint32_t k = 0;
    for (int v = 0; v < g_nviol; v++)
        k |= 1u << (g_viol[v].kind & 31);
    return k;
}

int fr_trace_bulk(int *actors, uint32_t *enabled, unsigned char *wrote, int cap)
{
    int n = g_steps < cap ? g_steps : cap;
    for (int i = 0; i < n; i++) {
        if (actors)
            actors[i] = g_trace[i].actor;
        if (enabled)
            enabled[i] = g_trace[i].enabled;
        if (wrote)
            wrote[i] = g_trace[i].wrote;
    }
    return g_steps;
}

/* ---- results ------------------------------------------------------------------------ */
int fr_steps(void) { return g_steps; }

void fr_set_step_log(int fd) { g_step_log_fd = fd; }

/* Spin steps (YieldProcessor, KeStallExecutionProcessor) of the last execution:
 * what a caller that skips the step trace needs of it. */
int fr_spin_steps(void)
{
    int n = 0;
    for (int i = 0; i < g_nactors; i++)
        n += g_actors[i].spins;
    return n;
}

void fr_step(int i, FR_STEP *out)
{
    memset(out, 0, sizeof *out);
    if (i < 0 || i >= g_steps)
        return;
    const raw_step *s = &g_trace[i];
    out->actor = s->actor;
    out->op = s->op;
    out->event = s->event;
    out->value = s->value;
    out->obj_kind = FR_OBJ_NONE;
    out->obj_index = -1;
    if (!s->obj)
        return;
    fr_block *b = block_of(s->obj);
    if (b) {
        out->obj_kind = FR_OBJ_POOL;
        out->obj_index = b->flow;
        out->obj_offset = (int)((const unsigned char *)s->obj - g_arena - b->off);
        return;
    }
    for (int g = 0; g < g_nglobals; g++)
        if ((const volatile char *)s->obj >= g_globals[g].p &&
            (const volatile char *)s->obj < g_globals[g].p + g_globals[g].size) {
            out->obj_kind = FR_OBJ_GLOBAL;
            out->obj_index = g;
            out->obj_offset = (int)((const volatile char *)s->obj - g_globals[g].p);
            return;
        }
}

int fr_violations(void) { return g_nviol; }

void fr_violation(int i, FR_VIOLATION *out)
{
    if (i >= 0 && i < g_nviol)
        *out = g_viol[i];
    else
        memset(out, 0, sizeof *out);
}

int fr_records(void) { return g_nrec; }

void fr_record(int i, FR_POLL_RECORD *out)
{
    if (i >= 0 && i < g_nrec)
        *out = g_records[i];
    else
        memset(out, 0, sizeof *out);
}
