//! Small mergeable summaries a profile keeps per column: a uniform sample (quantiles, histograms, KS,
//! Wasserstein, PSI), a HyperLogLog distinct counter and exact category counts up to a cap.
//!
//! All of them merge, so profiles of partial files or parallel writers combine into one.

use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A stable 64-bit hash (XXH3) of bytes; stable across versions so saved counters stay comparable.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    twox_hash::XxHash3_64::oneshot(bytes)
}

/// A hasher for keys that already are good 64-bit hashes.
#[derive(Default)]
pub struct IdentityHasher(u64);
impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
/// A map keyed by a precomputed hash.
pub type HashKeyed<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

// ---------------------------------------------------------------- uniform sample

/// A uniform random sample of at most `capacity` values out of `population` (reservoir sampling,
/// Li's Algorithm L: skips ahead, so unselected values are never touched and big batches cost almost nothing).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reservoir {
    pub capacity: usize,
    /// How many values the sample stands for.
    pub population: u64,
    pub values: Vec<f64>,
    #[serde(skip)]
    state: Option<SkipState>,
}

#[derive(Debug, Clone)]
struct SkipState {
    w: f64,
    /// 1-based position of the next value to take.
    next: u64,
    rng: StdRng,
}

impl Reservoir {
    pub fn new(capacity: usize, seed: u64) -> Self {
        let capacity = capacity.max(1);
        let mut rng = StdRng::seed_from_u64(seed);
        let w = (rng.random::<f64>().ln() / capacity as f64).exp();
        let next = capacity as u64 + skip(&mut rng, w);
        Reservoir { capacity, population: 0, values: Vec::new(), state: Some(SkipState { w, next, rng }) }
    }

    /// Offer `len` values; `value(i)` is called only for the ones taken into the sample.
    pub fn offer(&mut self, len: usize, value: impl Fn(usize) -> f64) {
        let start = self.population;
        let end = start + len as u64;
        let mut i = 0usize;
        while self.values.len() < self.capacity && i < len {
            self.values.push(value(i));
            i += 1;
        }
        let capacity = self.capacity;
        let state = self.state.get_or_insert_with(|| {
            let mut rng = StdRng::seed_from_u64(end);
            let w = (rng.random::<f64>().ln() / capacity as f64).exp();
            let next = end.max(capacity as u64) + skip(&mut rng, w);
            SkipState { w, next, rng }
        });
        while state.next <= end {
            let idx = (state.next - start - 1) as usize;
            let slot = state.rng.random_range(0..capacity);
            self.values[slot] = value(idx);
            state.w *= (state.rng.random::<f64>().ln() / capacity as f64).exp();
            state.next += skip(&mut state.rng, state.w);
        }
        self.population = end;
    }

    /// Combine two samples into a sample of the union (each side contributes in proportion to its population).
    pub fn merge(&mut self, other: &Reservoir) {
        let total = self.population + other.population;
        if other.population == 0 {
            return;
        }
        let capacity = self.capacity.max(other.capacity);
        if self.values.len() + other.values.len() <= capacity
            && self.population as usize == self.values.len()
            && other.population as usize == other.values.len()
        {
            self.values.extend_from_slice(&other.values);
        } else {
            let mut rng = StdRng::seed_from_u64(total ^ self.values.len() as u64);
            let mut a = self.values.clone();
            let mut b = other.values.clone();
            shuffle(&mut a, &mut rng);
            shuffle(&mut b, &mut rng);
            let want = capacity.min(a.len() + b.len());
            let from_a = ((want as f64) * self.population as f64 / total as f64).round() as usize;
            let from_a = from_a.min(a.len()).max(want.saturating_sub(b.len()));
            let from_b = (want - from_a).min(b.len());
            a.truncate(from_a);
            a.extend_from_slice(&b[..from_b]);
            self.values = a;
        }
        self.capacity = capacity;
        self.population = total;
        self.state = None;
    }

    /// The sample sorted ascending (NaN removed).
    pub fn sorted(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.values.iter().copied().filter(|x| !x.is_nan()).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    }
}

fn skip(rng: &mut StdRng, w: f64) -> u64 {
    let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let denom = (1.0 - w).ln();
    if denom >= 0.0 || !denom.is_finite() {
        return 1;
    }
    let s = (u.ln() / denom).floor();
    if s.is_finite() && s >= 0.0 {
        (s as u64).saturating_add(1)
    } else {
        u64::MAX / 4
    }
}

fn shuffle(v: &mut [f64], rng: &mut StdRng) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

/// The `q` quantile (0..=1) of sorted values, interpolated.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// Share of sorted values <= x.
pub fn cdf(sorted: &[f64], x: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.partition_point(|v| *v <= x) as f64 / sorted.len() as f64
}

// ---------------------------------------------------------------- distinct counter

const HLL_BITS: u32 = 11;
const HLL_REGISTERS: usize = 1 << HLL_BITS;

/// A HyperLogLog distinct counter (2,048 registers, about 2.3% standard error), stored as base64.
#[derive(Debug, Clone, PartialEq)]
pub struct Hll {
    registers: Vec<u8>,
}

impl Default for Hll {
    fn default() -> Self {
        Hll { registers: vec![0; HLL_REGISTERS] }
    }
}

impl Hll {
    #[inline]
    pub fn add_hash(&mut self, h: u64) {
        let idx = (h >> (64 - HLL_BITS)) as usize;
        let rest = (h << HLL_BITS) | (1 << (HLL_BITS - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if self.registers[idx] < rank {
            self.registers[idx] = rank;
        }
    }
    pub fn merge(&mut self, other: &Hll) {
        for (a, b) in self.registers.iter_mut().zip(&other.registers) {
            *a = (*a).max(*b);
        }
    }
    pub fn estimate(&self) -> f64 {
        let m = HLL_REGISTERS as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self.registers.iter().map(|r| 2f64.powi(-(*r as i32))).sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|r| **r == 0).count();
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        }
    }
}

impl Serialize for Hll {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(&self.registers))
    }
}
impl<'de> Deserialize<'de> for Hll {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let registers = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(serde::de::Error::custom)?;
        if registers.len() != HLL_REGISTERS {
            return Err(serde::de::Error::custom(format!(
                "HLL needs {HLL_REGISTERS} registers, got {}",
                registers.len()
            )));
        }
        Ok(Hll { registers })
    }
}

// ---------------------------------------------------------------- categories

/// Exact counts per category while there are at most `cap` distinct values; beyond that the column is
/// treated as high-cardinality (identifiers, free text) and only the distinct counter and lengths remain.
#[derive(Debug, Clone, Default)]
pub struct CategoryCounter {
    cap: usize,
    counts: HashKeyed<(Box<str>, u64)>,
    pub high_cardinality: bool,
}

impl CategoryCounter {
    pub fn new(cap: usize) -> Self {
        CategoryCounter { cap, counts: HashKeyed::default(), high_cardinality: false }
    }
    #[inline]
    pub fn add(&mut self, hash: u64, value: &str, n: u64) {
        if self.high_cardinality {
            return;
        }
        match self.counts.get_mut(&hash) {
            Some(entry) => entry.1 += n,
            None => {
                if self.counts.len() >= self.cap {
                    self.high_cardinality = true;
                    self.counts = HashKeyed::default();
                } else {
                    self.counts.insert(hash, (value.into(), n));
                }
            }
        }
    }
    pub fn len(&self) -> usize {
        self.counts.len()
    }
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
    /// All categories, most frequent first (ties by value, for stable output).
    pub fn sorted(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self.counts.values().map(|(k, n)| (k.to_string(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservoir_is_uniform_and_merges() {
        let mut r = Reservoir::new(1000, 1);
        for chunk in 0..100 {
            r.offer(1000, |i| (chunk * 1000 + i) as f64);
        }
        assert_eq!(r.population, 100_000);
        assert_eq!(r.values.len(), 1000);
        let median = quantile(&r.sorted(), 0.5).unwrap();
        assert!((median - 50_000.0).abs() < 5_000.0, "median {median}");
        let mut other = Reservoir::new(1000, 2);
        other.offer(300_000, |i| 1_000_000.0 + i as f64);
        r.merge(&other);
        assert_eq!(r.population, 400_000);
        let share_high = r.values.iter().filter(|v| **v >= 1_000_000.0).count() as f64 / r.values.len() as f64;
        assert!((share_high - 0.75).abs() < 0.02, "{share_high}");
    }

    #[test]
    fn small_reservoirs_merge_exactly() {
        let mut a = Reservoir::new(100, 1);
        a.offer(3, |i| i as f64);
        let mut b = Reservoir::new(100, 2);
        b.offer(2, |i| 10.0 + i as f64);
        a.merge(&b);
        assert_eq!(a.sorted(), vec![0.0, 1.0, 2.0, 10.0, 11.0]);
    }

    #[test]
    fn hll_estimates_and_round_trips() {
        let mut h = Hll::default();
        for i in 0u64..100_000 {
            h.add_hash(hash_bytes(&i.to_le_bytes()));
        }
        let e = h.estimate();
        assert!((e - 100_000.0).abs() / 100_000.0 < 0.06, "{e}");
        let json = serde_json::to_string(&h).unwrap();
        let back: Hll = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        let mut small = Hll::default();
        for i in 0u64..10 {
            small.add_hash(hash_bytes(&i.to_le_bytes()));
        }
        assert!((small.estimate() - 10.0).abs() < 1.0);
    }
}
