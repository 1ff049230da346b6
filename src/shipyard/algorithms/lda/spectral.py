"""Spectral LDA (Anandkumar, Foster, Hsu, Kakade, Liu: "A Spectral Algorithm for Latent Dirichlet
Allocation", 2012; "Tensor Decompositions for Learning Latent Variable Models", 2014), in numpy.

Why this and not sampling or EM: it is what AWS's LDA container runs (hence its ``alpha0``, ``max_restarts``,
``max_iterations`` and ``tol``), it reads the data in two streaming passes and the result does not depend on
an initialisation beyond the restarts' seed.

The moments, for a document of ``n`` words with count vector ``c`` (unbiased per-document estimates of the
co-occurrence of 2 and 3 distinct word positions, averaged over documents)::

    M1 = E[c / n]
    E2 = E[(c c^T - diag c) / (n (n-1))]                     M2 = E2 - a0/(a0+1) M1 M1^T
    E3 = E[(c^3 - sym(diag(c) x c) + 2 diag3(c)) / (n (n-1) (n-2))]
    M3 = E3 - a0/(a0+2) sym(E2 x M1) + 2 a0^2/((a0+1)(a0+2)) M1^3

``M2 = sum_i a_i/(a0 (a0+1)) mu_i mu_i^T`` and ``M3 = sum_i 2 a_i/(a0 (a0+1) (a0+2)) mu_i^3``: whitening with
``W`` (``W^T M2 W = I``, from M2's top eigenvectors) makes ``T = M3(W, W, W)`` an orthogonally decomposable
``k x k x k`` tensor, whose eigenpairs (robust tensor power method) give the topics ``mu_i`` and the Dirichlet
parameters ``a_i``. The V^3 tensor is never formed: pass two accumulates the whitened moment directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.special import digamma

from ...errors import ValidationError

BETA_FLOOR = 1e-10  # every word keeps a tiny probability under every topic, so inference never takes log(0)


def as_csr(X) -> sp.csr_matrix:
    return sp.csr_matrix(X, dtype=np.float64) if not sp.issparse(X) else X.tocsr().astype(np.float64)


def check_counts(X, where: str) -> None:
    """Word counts must be finite and non-negative (AWS's LDA reads them as counts)."""
    data = X.data if sp.issparse(X) else np.asarray(X)
    if data.size and not np.all(np.isfinite(data)):
        raise ValidationError(f"The {where} holds missing or infinite values; each row must be a document's word "
                              "counts (non-negative numbers, one column per vocabulary word).")
    if data.size and data.min() < 0:
        raise ValidationError(f"The {where} holds negative values; each row must be a document's word counts "
                              "(non-negative numbers, one column per vocabulary word).")


@dataclass
class SecondMoments:
    """Pass one: M1 and E2 streamed over mini-batches."""

    V: int
    n1: int = 0
    n2: int = 0
    m1: np.ndarray = field(init=False)
    e2: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.m1 = np.zeros(self.V)
        self.e2 = np.zeros((self.V, self.V))

    def add(self, X) -> None:
        C = as_csr(X)
        n = np.asarray(C.sum(axis=1)).ravel()
        has1 = n >= 1
        self.n1 += int(has1.sum())
        self.m1 += np.asarray((sp.diags(np.where(has1, 1.0 / np.maximum(n, 1), 0.0)) @ C).sum(axis=0)).ravel()
        w2 = np.where(n >= 2, 1.0 / np.maximum(n * (n - 1), 1e-300), 0.0)
        self.n2 += int((n >= 2).sum())
        S = sp.diags(w2) @ C
        G = (S.T @ C).toarray()
        G[np.diag_indices(self.V)] -= np.asarray(S.sum(axis=0)).ravel()
        self.e2 += G

    def finish(self, alpha0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(M1, E2, M2) as averages."""
        if self.n2 == 0:
            raise ValidationError("The train channel holds no document with at least 2 words; LDA learns topics "
                                  "from words that occur together in a document.")
        M1 = self.m1 / max(self.n1, 1)
        E2 = self.e2 / self.n2
        M2 = E2 - alpha0 / (alpha0 + 1.0) * np.outer(M1, M1)
        return M1, E2, (M2 + M2.T) / 2


def whitening(M2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(W [V x k], B [V x k]) with ``W^T M2 W = I`` and ``B = pinv(W^T)`` from M2's top k eigenpairs."""
    V = M2.shape[0]
    if V > 2000:
        from scipy.sparse.linalg import eigsh

        s, U = eigsh(M2, k=k, which="LA", v0=np.ones(V))
    else:
        s, U = np.linalg.eigh(M2)
    order = np.argsort(s)[::-1][:k]
    s, U = s[order], U[:, order]
    good = s > max(s[0], 0.0) * 1e-10
    if s[0] <= 0 or not good.all():
        raise ValidationError(
            f"The data supports only {int(good.sum())} topic(s), fewer than num_topics={k}: the second word "
            "moment has too few positive eigenvalues. Use more (or longer) documents, or fewer topics.")
    return U / np.sqrt(s), U * np.sqrt(s)


@dataclass
class WhitenedThirdMoment:
    """Pass two: E3(W, W, W) and the whitened pieces needed for the M1 corrections."""

    W: np.ndarray
    n3: int = 0
    t: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        k = self.W.shape[1]
        self.t = np.zeros((k, k, k))

    def add(self, X) -> None:
        C = as_csr(X)
        n = np.asarray(C.sum(axis=1)).ravel()
        s = np.where(n >= 3, 1.0 / np.maximum(n * (n - 1) * (n - 2), 1e-300), 0.0)
        keep = s > 0
        if not keep.any():
            return
        self.n3 += int(keep.sum())
        C, s = C[keep], s[keep]
        W = self.W
        Y = np.asarray(C @ W)                                  # docs x k
        part1 = np.einsum("d,da,db,dc->abc", s, Y, Y, Y, optimize=True)
        Z = np.asarray((sp.diags(s) @ C).T @ Y)                # V x k: sum_d s_d c_di y_d
        wz = np.einsum("ia,ib,ic->abc", W, W, Z, optimize=True)
        part2 = wz + wz.transpose(0, 2, 1) + wz.transpose(2, 0, 1)
        u = np.asarray((sp.diags(s) @ C).sum(axis=0)).ravel()  # V: sum_d s_d c_di
        part3 = np.einsum("i,ia,ib,ic->abc", u, W, W, W, optimize=True)
        self.t += part1 - part2 + 2.0 * part3

    def finish(self, M1: np.ndarray, E2: np.ndarray, alpha0: float) -> np.ndarray:
        if self.n3 == 0:
            raise ValidationError("The train channel holds no document with at least 3 words; spectral LDA needs "
                                  "word triples from the same document.")
        W = self.W
        E3 = self.t / self.n3
        m = W.T @ M1
        E2w = W.T @ E2 @ W
        cross = np.einsum("ab,c->abc", E2w, m)
        sym = cross + cross.transpose(0, 2, 1) + cross.transpose(2, 0, 1)
        T = E3 - alpha0 / (alpha0 + 2.0) * sym \
            + 2.0 * alpha0 ** 2 / ((alpha0 + 1.0) * (alpha0 + 2.0)) * np.einsum("a,b,c->abc", m, m, m)
        return (T + T.transpose(0, 2, 1) + T.transpose(1, 0, 2) + T.transpose(1, 2, 0) + T.transpose(2, 0, 1)
                + T.transpose(2, 1, 0)) / 6.0


def tensor_power(T: np.ndarray, restarts: int, iterations: int, tol: float,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Robust tensor power method with deflation: (eigenvalues [k], eigenvectors [k x k] as columns,
    iterations used per component). All restarts of a component run together as the columns of one matrix."""
    k = T.shape[0]
    rng = np.random.default_rng(seed)
    T = T.copy()
    lams, vecs, used = np.zeros(k), np.zeros((k, k)), []

    def power(theta: np.ndarray) -> tuple[np.ndarray, int]:
        for it in range(1, iterations + 1):
            new = np.einsum("abc,bl,cl->al", T, theta, theta)
            new /= np.maximum(np.linalg.norm(new, axis=0), 1e-300)
            # an eigenvector of an odd-order tensor is defined up to sign: compare up to sign
            delta = np.minimum(np.linalg.norm(new - theta, axis=0), np.linalg.norm(new + theta, axis=0))
            theta = new
            if delta.max() <= tol:
                return theta, it
        return theta, iterations

    for i in range(k):
        theta = rng.normal(size=(k, restarts))
        theta /= np.linalg.norm(theta, axis=0)
        theta, n1 = power(theta)
        values = np.einsum("abc,al,bl,cl->l", T, theta, theta, theta)
        best = theta[:, [int(np.argmax(np.abs(values)))]]
        best, n2 = power(best)  # polish the winner
        v = best[:, 0]
        lam = float(np.einsum("abc,a,b,c->", T, v, v, v))
        if lam < 0:
            v, lam = -v, -lam
        lams[i], vecs[:, i] = lam, v
        used.append(n1 + n2)
        T -= lam * np.einsum("a,b,c->abc", v, v, v)
    return lams, vecs, used


def recover(lams: np.ndarray, vecs: np.ndarray, B: np.ndarray, alpha0: float) -> tuple[np.ndarray, np.ndarray]:
    """(alpha [k], beta [k x V]) from the whitened eigenpairs: ``mu_i = (a0+2)/2 lam_i B v_i``,
    ``a_i = 4 a0 (a0+1) / ((a0+2)^2 lam_i^2)``; topics clipped to the simplex, alpha rescaled to sum a0;
    topics ordered by decreasing alpha."""
    lam = np.maximum(lams, 1e-12)
    mu = (alpha0 + 2.0) / 2.0 * (B @ vecs) * lam            # V x k
    for i in range(mu.shape[1]):
        if mu[:, i].sum() < 0:
            mu[:, i] = -mu[:, i]
    mu = np.maximum(mu, 0.0) + BETA_FLOOR
    beta = (mu / mu.sum(axis=0)).T
    alpha = 4.0 * alpha0 * (alpha0 + 1.0) / ((alpha0 + 2.0) ** 2 * lam ** 2)
    alpha = alpha * (alpha0 / alpha.sum())
    order = np.argsort(-alpha, kind="stable")
    return alpha[order], beta[order]


# ------------------------------------------------------------------ inference

def infer(X, alpha: np.ndarray, beta: np.ndarray, max_iter: int = 200, tol: float = 1e-6) -> np.ndarray:
    """Each document's topic mixture (rows sum to 1) by LDA's variational E-step given the topics.

    Rows converge independently (a row stops updating once its change is below ``tol``), so a document gets
    the same answer alone or in a batch. An empty document gets ``alpha / alpha0``.
    """
    C = as_csr(X)
    k = len(alpha)
    n = np.asarray(C.sum(axis=1)).ravel()
    gamma = alpha[None, :] + (n / k)[:, None]
    active = np.flatnonzero(n > 0)
    gamma[n == 0] = alpha
    logb = beta.astype(np.float64)
    for _ in range(max_iter):
        if active.size == 0:
            break
        sub = C[active].tocoo()
        g = gamma[active]
        e = np.exp(digamma(g) - digamma(g.sum(axis=1, keepdims=True)))
        norm = np.einsum("nk,kn->n", e[sub.row], logb[:, sub.col]) + 1e-300
        R = sp.csr_matrix((sub.data / norm, (sub.row, sub.col)), shape=sub.shape)
        new = alpha[None, :] + e * np.asarray(R @ logb.T)
        change = np.abs(new - g).mean(axis=1)
        gamma[active] = new
        active = active[change > tol]
    return gamma / gamma.sum(axis=1, keepdims=True)


def log_likelihood(X, theta: np.ndarray, beta: np.ndarray) -> tuple[float, float]:
    """(sum over words of log p(word | document's mixture, topics), number of words)."""
    C = as_csr(X).tocoo()
    p = np.einsum("nk,kn->n", theta[C.row], beta[:, C.col])
    return float(np.sum(C.data * np.log(np.maximum(p, 1e-300)))), float(C.data.sum())


def fit(batches_pass1, batches_pass2, V: int, k: int, alpha0: float, restarts: int, iterations: int,
        tol: float, log=print) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, beta) from two passes over the same documents (iterables of count matrices)."""
    second = SecondMoments(V)
    docs = 0
    for X in batches_pass1:
        check_counts(X, "train channel")
        second.add(X)
        docs += X.shape[0]
    M1, E2, M2 = second.finish(alpha0)
    W, B = whitening(M2, k)
    third = WhitenedThirdMoment(W)
    for X in batches_pass2:
        third.add(X)
    T = third.finish(M1, E2, alpha0)
    lams, vecs, used = tensor_power(T, restarts, iterations, tol)
    log(f"{docs} documents ({third.n3} with 3 or more words); tensor eigenvalues "
        f"{np.round(lams, 4).tolist()}; power iterations per topic {used}")
    return recover(lams, vecs, B, alpha0)
