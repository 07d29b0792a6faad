/*
 * stategraph.c - the state graph of a search (--state-graph): a node per distinct
 * state hash (sched_view.c, fr_state_hash) met at a scheduling point, an edge per
 * distinct step between two of them (actor, operation, object), with visit counts,
 * the initial node and the terminal nodes with the violations seen there. The
 * controlled loop (engine.c) feeds it when a run asks for it (record_states);
 * Python reads it out (fr_graph_*) to summarise and draw it.
 */
#define _GNU_SOURCE
#include "fr_engine.h"
#include "fr_sched.h"

#include <stdlib.h>
#include <string.h>

static struct {
    FR_GRAPH_NODE *nodes;
    int n_nodes, nodes_cap;
    int *node_slots; /* open addressing: node index + 1 */
    int node_slot_cap;
    FR_GRAPH_EDGE *edges;
    uint64_t *edge_keys;
    int n_edges, edges_cap;
    int *edge_slots;
    int edge_slot_cap;
    int max_edges;
    int truncated;
} G;

void fr_graph_reset(int max_edges)
{
    G.n_nodes = 0;
    G.n_edges = 0;
    G.truncated = 0;
    G.max_edges = max_edges > 0 ? max_edges : 1 << 20;
    if (G.node_slots)
        memset(G.node_slots, 0, sizeof(int) * (size_t)G.node_slot_cap);
    if (G.edge_slots)
        memset(G.edge_slots, 0, sizeof(int) * (size_t)G.edge_slot_cap);
}

static int rehash(int **slots, int *slot_cap, int count, uint64_t (*key_of)(int))
{
    int cap = *slot_cap ? *slot_cap * 2 : 4096;
    int *s = calloc((size_t)cap, sizeof(int));
    if (!s)
        return 0;
    for (int i = 0; i < count; i++) {
        uint64_t h = fr_fmix64(key_of(i));
        size_t j = (size_t)(h & (uint64_t)(cap - 1));
        while (s[j])
            j = (j + 1) & (size_t)(cap - 1);
        s[j] = i + 1;
    }
    free(*slots);
    *slots = s;
    *slot_cap = cap;
    return 1;
}

static uint64_t node_key(int i) { return G.nodes[i].hash; }
static uint64_t edge_key(int i) { return G.edge_keys[i]; }

int fr_graph_state(uint64_t hash, int initial)
{
    if ((G.n_nodes + 1) * 2 > G.node_slot_cap &&
        !rehash(&G.node_slots, &G.node_slot_cap, G.n_nodes, node_key))
        return -1;
    size_t mask = (size_t)G.node_slot_cap - 1;
    size_t j = (size_t)(fr_fmix64(hash) & mask);
    while (G.node_slots[j]) {
        FR_GRAPH_NODE *nd = &G.nodes[G.node_slots[j] - 1];
        if (nd->hash == hash) {
            nd->visits++;
            nd->initial |= initial;
            return G.node_slots[j] - 1;
        }
        j = (j + 1) & mask;
    }
    if (G.n_edges >= G.max_edges) {
        G.truncated = 1;
        return -1;
    }
    if (G.n_nodes == G.nodes_cap) {
        int cap = G.nodes_cap ? G.nodes_cap * 2 : 4096;
        FR_GRAPH_NODE *nn = realloc(G.nodes, sizeof(FR_GRAPH_NODE) * (size_t)cap);
        if (!nn)
            return -1;
        G.nodes = nn;
        G.nodes_cap = cap;
    }
    FR_GRAPH_NODE *nd = &G.nodes[G.n_nodes];
    memset(nd, 0, sizeof *nd);
    nd->hash = hash;
    nd->initial = initial;
    nd->visits = 1;
    G.node_slots[j] = ++G.n_nodes;
    return G.n_nodes - 1;
}

void fr_graph_link(int from, int to, int actor, int op, const volatile void *obj)
{
    if (from < 0 || to < 0)
        return;
    int kind, index, offset;
    fr_describe_obj(obj, &kind, &index, &offset);
    uint64_t what = (uint64_t)actor << 40 ^ (uint64_t)op << 32 ^ (uint64_t)(kind + 1) << 24 ^
                    (uint64_t)(uint32_t)(index + 1) << 12 ^ (uint64_t)(uint32_t)offset;
    uint64_t key = fr_fmix64((uint64_t)from * 0x9E3779B97F4A7C15ULL ^ (uint64_t)to) ^
                   fr_fmix64(what);
    if ((G.n_edges + 1) * 2 > G.edge_slot_cap &&
        !rehash(&G.edge_slots, &G.edge_slot_cap, G.n_edges, edge_key))
        return;
    size_t mask = (size_t)G.edge_slot_cap - 1;
    size_t j = (size_t)(fr_fmix64(key) & mask);
    while (G.edge_slots[j]) {
        int e = G.edge_slots[j] - 1;
        FR_GRAPH_EDGE *ed = &G.edges[e];
        if (G.edge_keys[e] == key && ed->src == from && ed->dst == to && ed->actor == actor &&
            ed->op == op && ed->obj_kind == kind && ed->obj_index == index &&
            ed->obj_offset == offset) {
            ed->count++;
            return;
        }
        j = (j + 1) & mask;
    }
    if (G.n_edges >= G.max_edges) {
        G.truncated = 1;
        return;
    }
    if (G.n_edges == G.edges_cap) {
        int cap = G.edges_cap ? G.edges_cap * 2 : 4096;
        FR_GRAPH_EDGE *ne = realloc(G.edges, sizeof(FR_GRAPH_EDGE) * (size_t)cap);
        uint64_t *nk = realloc(G.edge_keys, sizeof(uint64_t) * (size_t)cap);
        if (ne)
            G.edges = ne;
        if (nk)
            G.edge_keys = nk;
        if (!ne || !nk)
            return;
        G.edges_cap = cap;
    }
    FR_GRAPH_EDGE *ed = &G.edges[G.n_edges];
    ed->src = from;
    ed->dst = to;
    ed->actor = actor;
    ed->op = op;
    ed->obj_kind = kind;
    ed->obj_index = index;
    ed->obj_offset = offset;
    ed->count = 1;
    G.edge_keys[G.n_edges] = key;
    G.edge_slots[j] = ++G.n_edges;
}

void fr_graph_terminal(int node, uint32_t kinds, uint64_t end_hash)
{
    if (node < 0 || node >= G.n_nodes)
        return;
    G.nodes[node].terminal = 1;
    G.nodes[node].kinds |= kinds;
    G.nodes[node].end_hash = end_hash; /* (a function of the node's state) */
}

int fr_graph_nodes(void) { return G.n_nodes; }
int fr_graph_edges(void) { return G.n_edges; }
int fr_graph_truncated(void) { return G.truncated; }

void fr_graph_node(int i, FR_GRAPH_NODE *out)
{
    if (i >= 0 && i < G.n_nodes)
        *out = G.nodes[i];
    else
        memset(out, 0, sizeof *out);
}

void fr_graph_edge(int i, FR_GRAPH_EDGE *out)
{
    if (i >= 0 && i < G.n_edges)
        *out = G.edges[i];
    else
        memset(out, 0, sizeof *out);
}
