"""The reverse sweep behind `Tensor.backward()`: order the graph, then pull gradients from outputs to inputs.

Every tensor made by an op points at its Function (`t._ctx`), and each Function at the tensors it was applied to
(`ctx.parents`). Walking those edges backwards from the loss gives a topological order; visiting it in reverse
guarantees a node's gradient is complete (all of its consumers have contributed) before its own backward runs.
"""
import numpy as np

from tinyllm.autograd import anomaly
from tinyllm.autograd.function import check_grad


class SparseGrad:
    """A gradient that is zero except at `x[index]` (no element picked twice), as basic indexing produces.

    Why: `q, k, v = qkv[0], qkv[1], qkv[2]` would otherwise build three full-size arrays of zeros and add them
    up; the backward pass instead writes each piece into one buffer in place (see _accumulate below).
    """

    __slots__ = ("index", "values", "shape", "dtype")

    def __init__(self, index, values, shape, dtype):
        self.index, self.values, self.shape, self.dtype = index, values, shape, dtype

    def dense(self):
        out = np.zeros(self.shape, dtype=self.dtype)
        out[self.index] = self.values
        return out

    def add_into(self, out):
        out[self.index] += self.values
        return out


def run_backward(root, grad, into=None):
    """Reverse-mode sweep: order the graph topologically with an explicit stack, then pull gradients back.

    Gradients of intermediate tensors live in `grads` only until their node has been processed, then are
    dropped; leaves (tensors made by the user, not by an op) accumulate into `.grad`, or, with a dict `into`,
    are stored there (`into[leaf] = gradient`, read-only: it may share memory with an op's buffers) and `.grad`
    is left alone. That is what lets two threads run backward over graphs sharing the same parameters.
    """
    order, visited, stack = [], set(), [(root, False)]
    while stack:  # iterative depth-first search: a node is appended after all of its parents
        t, parents_done = stack.pop()
        if parents_done:
            order.append(t)
        elif t not in visited:
            visited.add(t)
            if t._ctx is None:
                order.append(t)
            else:
                stack.append((t, True))
                stack.extend((x, False) for x in t._ctx.parents if x not in visited)
    grads, owned = {root: grad}, set()  # owned: tensors whose gradient buffer the sweep allocated itself
    for t in reversed(order):  # outputs before inputs
        g = grads.pop(t, None)
        if g is None:  # no gradient reached it (an op returned None for it)
            continue
        fn = t._ctx
        if fn is None:  # a leaf: keep a private buffer (copy unless the sweep made it), then accumulate in place
            if into is not None:
                into[t] = g
            elif t.grad is None:
                t.grad = g if t in owned else np.array(g, dtype=t.data.dtype)
            else:
                t.grad += g
            continue
        owned.discard(t)
        for x, need, gx in zip(fn.inputs, fn.needs_input_grad, fn.backward(g)):
            if need and gx is not None:
                _accumulate(grads, owned, fn, x, gx)


def _accumulate(grads, owned, fn, x, gx):
    """grads[x] += gx. A buffer the sweep allocated is updated in place; any other array may be shared (an op
    can hand the same array to two inputs, or a view of its own gradient), so it is never written to."""
    if type(gx) is SparseGrad:
        if anomaly.enabled:
            anomaly.check_backward(type(fn).__name__, gx.values)
        if x not in grads:
            grads[x] = gx.dense()
        else:
            acc = grads[x]
            grads[x] = gx.add_into(acc if x in owned else np.array(acc, dtype=x.data.dtype))
        owned.add(x)
        return
    if gx.shape != x.data.shape or gx.dtype != x.data.dtype or anomaly.enabled:
        gx = check_grad(fn, x, gx)
    if x not in grads:
        grads[x] = gx
    elif x in owned:
        grads[x] += gx
    else:
        grads[x] = grads[x] + gx
        owned.add(x)
