"""Image measures of the visual features (soundtrack/video/features.py), on (N, H, W) float32 stacks
of analysis frames: Gaussian blurs as small dense matrices (BLAS), the local regions of the impact
test, the normalised cross-correlation and flip centroid of two difference images, soft colour
histograms, saturation and hue, centroids, correlations and histogram distances. numpy only.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy.ndimage import gaussian_filter1d


LUMA_TABLES = (  # BT.601 luma weight times each uint8 value / 255, per channel
    np.outer([0.299, 0.587, 0.114], np.arange(256) / 255.0).astype(np.float32)
)


@functools.lru_cache(maxsize=32)
def _blur_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) float32 K with K @ v = gaussian_filter1d(v, sigma, mode="nearest")."""
    return gaussian_filter1d(np.eye(n), sigma, axis=0, mode="nearest").astype(np.float32)


def blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (sigma pixels, "nearest" edges) of each (H, W) image of a (K, H, W) stack."""
    k, h, w = images.shape
    across = (images.reshape(k * h, w) @ _blur_matrix(w, sigma).T).reshape(k, h, w)  # along W
    return np.matmul(_blur_matrix(h, sigma), across)  # along H


class Regions:
    """The whole frame (region 0) and overlapping local windows of an (H, W) image: 2 x 2
    blocks of about W / 6 pixels, one block apart, so that any compact object lies wholly
    in some window. Region sums of (K, H, W) stacks are two small matrix products."""

    def __init__(self, h: int, w: int) -> None:
        size = max(4, round(w / 6))
        self.rows, self.cols = self._indicator(h, size), self._indicator(w, size)  # (1 + nh, H), (1 + nw, W)
        self.xs = (np.arange(w, dtype=np.float32) + 0.5) / w  # (W,) horizontal position, 0..1

    @staticmethod
    def _indicator(n: int, size: int) -> np.ndarray:
        """(1 + windows, n) 0/1 rows: all of 0..n-1, then each window of two blocks."""
        starts = np.arange(0, n, size)
        spans = [(a, a + 2 * size) for a in starts[:-1]] or [(0, n)]
        out = np.zeros((1 + len(spans), n), dtype=np.float32)
        out[0] = 1.0
        for i, (a, b) in enumerate(spans):
            out[1 + i, a:b] = 1.0
        return out

    def sums(self, images: np.ndarray) -> np.ndarray:
        """(K, R) sums of (K, H, W) images over the whole frame and each window."""
        k, h, w = images.shape
        across = (images.reshape(k * h, w) @ self.cols.T).reshape(k, h, -1)  # (K, H, 1 + nw)
        table = np.matmul(self.rows, across)  # (K, 1 + nh, 1 + nw)
        return np.concatenate([table[:, 0, :1], table[:, 1:, 1:].reshape(k, -1)], axis=1)


def pair_measures(
    a: np.ndarray, b: np.ndarray, norm_a: np.ndarray, norm_b: np.ndarray, regions: Regions
) -> tuple[np.ndarray, np.ndarray]:
    """(K, R) cosine similarity of matching (K, H, W) images a, b in each region (0 where
    either is empty) and the horizontal centroid of max(0, -a b) (where they have opposite
    signs; 0.5 where none), given their (K, R) squared norms."""
    prod = a * b  # (K, H, W)
    num = regions.sums(prod)
    den = np.sqrt(norm_a * norm_b)
    cosine = np.where(den > 1e-9, num / np.maximum(den, 1e-9), 0.0).astype(np.float32)
    flip = np.maximum(-prod, 0.0)
    weight = regions.sums(flip)
    moment = regions.sums(flip * regions.xs)
    where = np.where(weight > 1e-6, moment / np.maximum(weight, 1e-6), 0.5).astype(np.float32)
    return cosine, where


def _level_weights(levels: int) -> np.ndarray:
    """(256, levels) float32: the soft-bin weights of each uint8 value (trilinear binning:
    the two nearest levels share the count, in proportion to closeness)."""
    value = np.arange(256, dtype=np.float32) * np.float32(1.0 / 255.0)
    pos = np.clip(value * levels - 0.5, 0.0, levels - 1.0)
    low = np.minimum(np.floor(pos), levels - 2).astype(np.intp)
    frac = pos - low  # weight of the upper level
    table = np.zeros((256, levels), dtype=np.float32)
    table[np.arange(256), low] = 1.0 - frac
    table[np.arange(256), low + 1] += frac
    return table


@functools.lru_cache(maxsize=4)
def _bin_tables(levels: int) -> tuple[np.ndarray, np.ndarray]:
    """(256, L) weights of one channel, and (65536, L * L) joint weights of an (R, G) pair
    indexed by 256 R + G (their outer product)."""
    one = _level_weights(levels)
    pair = (one[:, None, :, None] * one[None, :, None, :]).reshape(256 * 256, levels * levels)
    return one, pair


def soft_histogram(planes: np.ndarray, *, levels: int = 4, chunk: int = 8) -> np.ndarray:
    """(M, levels**3) RGB histograms of (3, M, P) uint8 colour planes, each summing to 1.

    Soft (trilinear) binning: a pixel splits its count between the two nearest levels of
    each channel, so a small uniform brightness shift moves little mass (hard bins would
    move every pixel near a bin edge at once). The histogram of a frame is
    sum_p w(R_p) (x) w(G_p) (x) w(B_p): the (R, G) weights come from one table look-up
    per pixel, and the sum over pixels against the B weights is a matrix product.
    """
    _, m, p = planes.shape
    one, pair = _bin_tables(levels)
    rg_index = (planes[0].astype(np.intp) << 8) | planes[1]  # (M, P)
    b_weights = np.take(one, planes[2], axis=0)  # (M, P, L)
    hist = np.empty((m, levels * levels, levels), dtype=np.float32)
    for a in range(0, m, chunk):  # chunks of frames keep the (m', P, L * L) weights in cache
        rg_weights = np.take(pair, rg_index[a : a + chunk], axis=0)  # (m', P, L * L)
        hist[a : a + chunk] = np.matmul(rg_weights.transpose(0, 2, 1), b_weights[a : a + chunk])
    return hist.reshape(m, levels**3) / np.float32(p)


def saturation_hue(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean HSV saturation and saturation-weighted circular mean hue (0..1) of (3, M, P)
    uint8 colour planes."""
    r, g, b = planes
    high = np.maximum(np.maximum(r, g), b)  # (M, P) uint8
    chroma = high - np.minimum(np.minimum(r, g), b)  # (M, P) uint8
    # Hue sector 0..6: (G - B) / C (mod 6) where R is the (first) largest, (B - R) / C + 2
    # where G is, (R - G) / C + 4 where B is.
    top_r = r == high
    top_g = (g == high) & ~top_r
    r16, g16, b16 = (c.astype(np.int16) for c in planes)
    num = np.where(top_r, g16 - b16, np.where(top_g, b16 - r16, r16 - g16))
    offset = np.where(top_r, np.float32(0.0), np.where(top_g, np.float32(2.0), np.float32(4.0)))
    sector = num / np.maximum(chroma, 1).astype(np.float32) + offset
    sector[sector < 0] += np.float32(6.0)
    angle = sector * np.float32(np.pi / 3.0)  # (M, P) radians
    sat = chroma / np.maximum(high, 1).astype(np.float32)  # 0 where high = 0 (then chroma = 0)
    cos_sum = np.einsum("kp,kp->k", sat, np.cos(angle), dtype=np.float64)
    sin_sum = np.einsum("kp,kp->k", sat, np.sin(angle), dtype=np.float64)
    hue = np.mod(np.arctan2(sin_sum, cos_sum) / (2 * np.pi), 1.0)
    sat_sum = sat.sum(axis=1, dtype=np.float64)
    hue = np.where(sat_sum > 1e-6, hue, 0.0)
    return (sat_sum / r.shape[1]).astype(np.float32), hue.astype(np.float32)


def centroid(profile: np.ndarray) -> np.ndarray:
    """Centroid in 0..1 of each row of non-negative (K, W) column sums; 0.5 if empty."""
    w = profile.shape[1]
    xs = (np.arange(w, dtype=np.float32) + 0.5) / w
    total = profile.sum(axis=1)
    return np.where(total > 1e-6, (profile @ xs) / np.maximum(total, 1e-6), 0.5).astype(np.float32)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching (K, H, W) images; 0 where either is empty."""
    num = (a * b).sum(axis=(1, 2))
    den = np.sqrt((a * a).sum(axis=(1, 2)) * (b * b).sum(axis=(1, 2)))
    return np.where(den > 1e-9, num / np.maximum(den, 1e-9), 0.0).astype(np.float32)


def correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching (K, H, W) images (their structure); 0 if flat."""
    return _cosine(a - a.mean(axis=(1, 2), keepdims=True), b - b.mean(axis=(1, 2), keepdims=True))


def tv_distance(hist: np.ndarray) -> np.ndarray:
    """(U,) total-variation distance of each histogram (U, 64) to the previous; 0 first."""
    out = np.zeros(hist.shape[0], dtype=np.float32)
    out[1:] = 0.5 * np.abs(np.diff(hist, axis=0)).sum(axis=1)
    return out


__all__ = ["LUMA_TABLES", "Regions", "blur", "centroid", "correlation", "pair_measures", "saturation_hue",
           "soft_histogram", "tv_distance"]
