"""Shortest-path searches on the graph's CSR arrays with one virtual node appended.

A position on a road is not a node, so each search adds one virtual node (index
``node_count``) linked to the graph by the partial edges of that position: the
*entries* of a target (tail of its edge → target, costing the first part of the edge)
or the *exits* of a source (source → head of its edge, costing the rest).  The scipy
Dijkstra then runs once, in C, from that virtual node: on the transposed graph for
one-to-many (every source's time to the target), on the forward graph for a route.

The CSR matrices (graph plus virtual node) are built once per graph and direction and
reused: a search only writes the virtual node's few links and, when the weights differ
from the previous search's, the data array in place (same sparsity).  Each concurrent
search borrows its own matrix from a small pool, so threads never share one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from routing.graph import RoadGraph

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

#: Link slots of the virtual node: a road position touches at most its road's two nodes.
VIRTUAL_SLOTS = 2
#: Out-degree up to which tree lengths look hops up in a padded adjacency table (else by
#: binary search in the edge keys).
PADDED_MAX_DEGREE = 16


@dataclass(frozen=True)
class Links:
    """Partial edges between a virtual node and graph nodes: cost and length of each, and
    which edge (and share of it) each one is; edge -1 when the position is at the node."""

    nodes: I64
    cost_s: F64
    length_m: F64
    edge: I64
    share: F64

    @classmethod
    def cheapest(cls, rows: list[tuple[int, float, float, int, float]]) -> Links:
        """Links from (node, cost, length, edge, share) rows: the cheapest finite one per node."""
        best: dict[int, tuple[int, float, float, int, float]] = {}
        for row in rows:
            if row[1] < float("inf") and (row[0] not in best or row[1] < best[row[0]][1]):
                best[row[0]] = row
        kept = list(best.values())
        return cls(
            np.array([r[0] for r in kept], dtype=np.int64),
            np.array([r[1] for r in kept], dtype=np.float64),
            np.array([r[2] for r in kept], dtype=np.float64),
            np.array([r[3] for r in kept], dtype=np.int64),
            np.array([r[4] for r in kept], dtype=np.float64),
        )


@dataclass(frozen=True)
class SearchResult:
    """Dijkstra from the virtual node: cost to every node (virtual last) and predecessors."""

    cost_s: F64
    predecessor: I32


class _Space:
    """One reusable CSR matrix: the graph in one direction plus the virtual node."""

    def __init__(self, indptr: I32, indices: I32, node_count: int) -> None:
        e = len(indices)
        self.edge_count = e
        self.node_count = node_count
        indptr2 = np.empty(node_count + 2, dtype=np.int32)
        indptr2[: node_count + 1] = indptr
        indptr2[node_count + 1] = e + VIRTUAL_SLOTS
        indices2 = np.empty(e + VIRTUAL_SLOTS, dtype=np.int32)
        indices2[:e] = indices
        indices2[e:] = node_count
        data = np.zeros(e + VIRTUAL_SLOTS)
        self.matrix = csr_matrix((data, indices2, indptr2), shape=(node_count + 1, node_count + 1))
        self.data: F64 = self.matrix.data
        self.indices: I32 = self.matrix.indices
        self.weights: F64 | None = None  # the (read-only) weights now in `data`

    def run(self, weights: F64, links: Links, limit: float) -> SearchResult:
        e, n = self.edge_count, self.node_count
        if self.weights is not weights:
            self.data[:e] = weights
            self.weights = weights if not weights.flags.writeable else None
        k = len(links.nodes)
        # Unused slots are zero-cost self-loops of the virtual node: never relaxed.
        self.indices[e : e + k] = links.nodes
        self.indices[e + k :] = n
        self.data[e : e + k] = links.cost_s
        self.data[e + k :] = 0.0
        return _run(self.matrix, n, limit)


class SearchPool:
    """Reusable search matrices of one graph direction, one per concurrent search."""

    def __init__(self, indptr: I32, indices: I32, node_count: int) -> None:
        self._indptr = indptr
        self._indices = indices
        self._node_count = node_count
        self._free: list[_Space] = []
        self._lock = threading.Lock()

    def search(self, weights: F64, links: Links, limit: float = np.inf) -> SearchResult:
        if len(links.nodes) > VIRTUAL_SLOTS:
            matrix = _with_virtual(self._indptr, self._indices, weights, links)
            return _run(matrix, self._node_count, limit)
        with self._lock:
            space = self._free.pop() if self._free else None
        if space is None:
            space = _Space(self._indptr, self._indices, self._node_count)
        try:
            return space.run(weights, links, limit)
        finally:
            with self._lock:
                self._free.append(space)


def _with_virtual(indptr: I32, indices: I32, data: F64, links: Links) -> csr_matrix:
    n = len(indptr)  # node_count + 1: the virtual node's index is node_count
    indptr2 = np.empty(n + 1, dtype=np.int32)
    indptr2[:n] = indptr
    indptr2[n] = indptr[-1] + len(links.nodes)
    indices2 = np.concatenate((indices, links.nodes.astype(np.int32)))
    data2 = np.concatenate((data, links.cost_s))
    return csr_matrix((data2, indices2, indptr2), shape=(n, n))


def _run(matrix: csr_matrix, source: int, limit: float) -> SearchResult:
    cost, pred = dijkstra(matrix, directed=True, indices=source, return_predecessors=True, limit=limit)
    return SearchResult(np.asarray(cost, dtype=np.float64), np.asarray(pred, dtype=np.int32))


def _pool(graph: RoadGraph, reverse: bool) -> SearchPool:
    if reverse:
        build = lambda: SearchPool(graph.rev_indptr, graph.rev_indices, graph.node_count)  # noqa: E731
    else:
        build = lambda: SearchPool(graph.indptr, graph.edge_head, graph.node_count)  # noqa: E731
    pool: SearchPool = graph.lazy("search:reverse" if reverse else "search:forward", build)
    return pool


def search_to(graph: RoadGraph, rev_weights: F64, entries: Links, limit: float = np.inf) -> SearchResult:
    """Cost from every node to the target whose `entries` are given (reverse search on
    the transposed graph; `rev_weights` are the edge weights in its order, `w[rev_perm]`).

    `predecessor[x]` is the next node after x on its best path (the virtual node at the end).
    """
    return _pool(graph, reverse=True).search(rev_weights, entries, limit)


def search_from(graph: RoadGraph, weights: F64, exits: Links, limit: float = np.inf) -> SearchResult:
    """Cost from the source whose `exits` are given to every node (forward search)."""
    return _pool(graph, reverse=False).search(weights, exits, limit)


class _Adjacency:
    """Forward out-edges of each node, column k holding every node's k-th out-edge: its
    head (-1 where the node has fewer) and length, so the edge x → y is found by
    comparing a few short columns."""

    def __init__(self, graph: RoadGraph) -> None:
        n = graph.node_count
        width = int(np.diff(graph.indptr).max(initial=0))
        #: False when some node has too many out-edges for the table to pay (left empty).
        self.usable = width <= PADDED_MAX_DEGREE
        if not self.usable:
            width = 0
        self.heads = np.full((width, n + 1), -1, dtype=np.int32)
        self.lengths = np.zeros((width, n + 1))
        tails = graph.edge_tail
        if self.usable:
            column = np.arange(graph.edge_count) - graph.indptr[tails]
            self.heads[column, tails] = graph.edge_head
            self.lengths[column, tails] = graph.edge_length_m


def _hop_lengths(graph: RoadGraph, pred: I32) -> F64:
    """Length of each node's edge to its predecessor in a reverse search (the edge
    x → pred[x]); 0 where pred[x] is not a graph node.  Length node_count + 1."""
    n = graph.node_count
    adjacency: _Adjacency = graph.lazy("adjacency:padded", lambda: _Adjacency(graph))
    if adjacency.usable:
        match = (adjacency.heads == pred).view(np.uint8)  # at most one edge x → pred[x]
        return np.asarray(np.einsum("ij,ij->j", match, adjacency.lengths), dtype=np.float64)
    hop = np.zeros(n + 1)
    real = np.flatnonzero((pred[:n] >= 0) & (pred[:n] < n))
    if len(real):
        hop[real] = graph.edge_length_m[graph.find_edges(real, pred[real])]
    return hop


def tree_lengths(graph: RoadGraph, result: SearchResult, links: Links) -> F64:
    """Metres from each node to the virtual node along the search tree (NaN if unreached).

    Pointer doubling: each round adds the length of the next hop and jumps twice as far,
    so it takes log2(tree depth) vectorised rounds.
    """
    n = graph.node_count
    pred = result.predecessor
    hop = _hop_lengths(graph, pred)
    direct = links.nodes[pred[links.nodes] == n]
    if len(direct):
        hop[direct] = links.length_m[pred[links.nodes] == n]
    # The virtual node is the root: it points to itself with a zero hop, so nodes that
    # already reach it keep their sum while the others keep doubling.  Unreached nodes
    # (negative predecessor) and the root itself point to the root.
    nxt = np.where(pred >= 0, pred, np.int32(n)).astype(np.intp)
    nxt[n] = n
    hop[n] = 0.0
    gathered = np.empty_like(hop)
    while (nxt != n).any():
        np.add(hop, hop.take(nxt, out=gathered), out=hop)
        nxt = nxt.take(nxt)
    hop[:n][~np.isfinite(result.cost_s[:n])] = np.nan
    return hop


def path_nodes(result: SearchResult, end: int, virtual: int) -> list[int]:
    """Graph nodes from the virtual node's first hop to `end`, following predecessors."""
    nodes: list[int] = []
    node = end
    pred = result.predecessor
    while node != virtual:
        if node < 0:
            raise RuntimeError("broken predecessor chain")
        nodes.append(node)
        node = int(pred[node])
    nodes.reverse()
    return nodes
