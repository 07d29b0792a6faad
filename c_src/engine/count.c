/*
 * count.c - the number of schedules an execution stands for (explore.c: "Counting").
 */
#define _GNU_SOURCE
#include "fr_explore.h"

#include <stdlib.h>
#include <string.h>

/* Linear extensions of the execution's happens-before order: the number of
 * schedules equivalent to it. */
double count_linearizations(int n)
{
    int na = X.na - 1; /* the settle actor runs after everyone: it adds no choice */
    int len[MAXA] = {0}, pos[MAXA];
    static int *steps_of, *local, *need;
    static int cap;
    if (n > cap) {
        int c2 = n * 2;
        int *a = realloc(steps_of, sizeof(int) * (size_t)c2);
        int *b = realloc(local, sizeof(int) * (size_t)c2);
        int *e = realloc(need, sizeof(int) * (size_t)c2 * MAXA);
        if (a)
            steps_of = a;
        if (b)
            local = b;
        if (e)
            need = e;
        if (!a || !b || !e)
            return -1;
        cap = c2;
    }
    /* a burst's forced steps run glued to its first one: one unit with it */
    for (int i = 0; i < n; i++) {
        int a = X.nodes[i].chosen;
        if (a < na)
            local[i] = (X.nodes[i].f.cat & C_FORCED) ? len[a] - 1 : len[a]++;
    }
    double states = 1;
    for (int a = 0; a < na; a++)
        states *= len[a] + 1;
    if (states > COUNT_CAP)
        return -1;
    int total = (int)states;
    /* steps_of: per actor, its steps in order, packed */
    int base[MAXA], stride[MAXA];
    int off = 0, s = 1;
    for (int a = 0; a < na; a++) {
        base[a] = off;
        off += len[a];
        stride[a] = s;
        s *= len[a] + 1;
        pos[a] = 0;
    }
    for (int i = 0; i < n; i++) {
        int a = X.nodes[i].chosen;
        if (a >= na)
            continue;
        const int *vc = &X.vc[(size_t)i * MAXA];
        int glued = (X.nodes[i].f.cat & C_FORCED) != 0; /* never an actor's first step */
        int u = glued ? steps_of[base[a] + local[i]] : i;
        if (!glued) {
            steps_of[base[a] + local[i]] = i;
            for (int b = 0; b < na; b++)
                need[(size_t)u * MAXA + b] = 0;
        }
        for (int b = 0; b < na; b++) {
            int nb = vc[b] >= 0 && b != a ? local[vc[b]] + 1 : 0;
            if (nb > need[(size_t)u * MAXA + b])
                need[(size_t)u * MAXA + b] = nb;
        }
    }
    if (total > X.count_f_cap) {
        double *f = realloc(X.count_f, sizeof(double) * (size_t)total);
        int *q = realloc(X.count_q, sizeof(int) * (size_t)total);
        if (f)
            X.count_f = f;
        if (q)
            X.count_q = q;
        if (!f || !q)
            return -1;
        X.count_f_cap = total;
        memset(X.count_f, 0, sizeof(double) * (size_t)total);
    }
    /* breadth-first over the reachable progress vectors, level by level (every
     * successor of a level-L vector is on level L+1): f[v] = schedules reaching v */
    double *f = X.count_f;
    int *q = X.count_q;
    int head = 0, tail = 0, level_end;
    f[0] = 1;
    q[tail++] = 0;
    double result = 0;
    while (head < tail) {
        level_end = tail;
        for (; head < level_end; head++) {
            int idx = q[head];
            int rest = idx;
            for (int a = na - 1; a >= 0; a--) {
                pos[a] = rest / stride[a];
                rest -= pos[a] * stride[a];
            }
            double here = f[idx];
            if (idx == total - 1)
                result = here;
            for (int b = 0; b < na; b++) {
                if (pos[b] >= len[b])
                    continue;
                const int *nd = &need[(size_t)steps_of[base[b] + pos[b]] * MAXA];
                int ok = 1;
                for (int a = 0; a < na && ok; a++)
                    ok = pos[a] >= nd[a];
                if (!ok)
                    continue;
                int next = idx + stride[b];
                if (f[next] == 0)
                    q[tail++] = next;
                f[next] += here;
            }
        }
    }
    for (int i = 0; i < tail; i++) /* leave the array zeroed for the next count */
        f[q[i]] = 0;
    return result;
}
