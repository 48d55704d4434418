// The one order statistic of the bench: medians and quartiles of rounds and runs.

/** The nearest-rank `q` quantile (0 < q ≤ 1) of `values`, ordered by `by`; NaN when there are none. */
export function percentile (values, q, by = (value) => value) {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => by(a) - by(b))
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}
