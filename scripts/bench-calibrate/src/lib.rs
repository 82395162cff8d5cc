//! What the helper programs share.

/// The `p` quantile (0 to 1, nearest rank) of `sorted`; zero when empty.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
