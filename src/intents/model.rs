//! A multinomial logistic regression over sparse features, trained by SGD.
//!
//! Weights are stored feature-major (`w[feature * classes + class]`), so scoring a message adds
//! a few hundred contiguous rows: fast and cache-friendly. Training skips the update for classes
//! whose gradient is negligible, which after the first pass is almost all of them.

use super::train_rows::{Row, TrainRows};

/// Training knobs for [`LinearModel::train`].
#[derive(Debug, Clone, Copy)]
pub struct TrainParams {
    /// Upper bound on passes over the rows.
    pub epochs: usize,
    /// Upper bound on SGD steps (rows × passes), at least 3 passes: small sets get the many
    /// passes they need, large ones stay within the training-time budget.
    pub max_steps: usize,
    /// Weight each row by the inverse frequency of its class, so big intents do not crowd out
    /// small ones.
    pub class_balance: bool,
    /// Average the weights over the passes after the first (tail averaging): steadier weights
    /// and better generalisation for the same number of passes.
    pub average: bool,
    pub learning_rate: f32,
    pub l2: f32,
    pub seed: u64,
    /// Weight of the naive-Bayes fold applied after SGD (0: none); see
    /// [`super::nb_fold`], which trains with it.
    pub nb_fold: f32,
}

#[derive(Debug, Clone)]
pub struct LinearModel {
    classes: usize,
    features: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

/// From the third pass on, a row whose loss in the pass before was under this (its own class at
/// 99% or more) sits the next pass out: its gradient is all but zero, and skipping it spares
/// the scores over every class, the most expensive part of a step. It comes back the pass after.
/// On CLINC150 and BANKING77 (10, 20 and all examples per intent) the eval figures moved by at
/// most 0.003, and training took 10-20% less.
const EASY_LOSS: f64 = 0.01;

/// Small deterministic PRNG (SplitMix64): reproducible shuffles without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// Asks the CPU to start loading the weight rows of `x`'s features into cache. A hint only:
/// it changes no value, and costs nothing where the CPU has no such instruction.
#[inline]
fn prefetch_rows(w: &[f32], classes: usize, x: Row<'_>) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        /// Floats per 64-byte cache line.
        const LINE: usize = 16;
        x.for_each(|f, _| {
            let start = f as usize * classes;
            let Some(row) = w.get(start..start + classes) else {
                return;
            };
            for line in row.chunks(LINE) {
                // SAFETY: prefetching never faults nor writes; the address is inside `w`.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
            }
        });
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (w, classes, x);
}

/// Asks Linux to back `v` with 2 MB pages where it can (transparent huge pages in `madvise`
/// mode). SGD and classification read the rows of a few hundred features at random places in
/// tens of megabytes of weights; with 4 KB pages most of those reads also miss the TLB. A hint
/// only: the values are the same either way. The weights then take up to 2 MB more memory
/// (peak RSS of `eval` on CLINC150: 71.4 MB, 69.1 MB without).
fn huge_pages(v: &mut [f32]) {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::{c_int, c_void};
        extern "C" {
            fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
        }
        const MADV_HUGEPAGE: c_int = 14;
        const PAGE: usize = 4096;
        let start = v.as_mut_ptr() as usize;
        let end = start + std::mem::size_of_val(v);
        let (a, b) = (start.div_ceil(PAGE) * PAGE, end / PAGE * PAGE);
        if b > a {
            // SAFETY: the range lies inside `v`'s allocation; MADV_HUGEPAGE changes how the
            // kernel backs the pages, never their contents. A failure leaves 4 KB pages.
            unsafe { madvise(a as *mut c_void, b - a, MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

impl LinearModel {
    pub fn classes(&self) -> usize {
        self.classes
    }

    pub fn features(&self) -> usize {
        self.features
    }

    /// Adds `delta` (one value per class) to feature `f`'s weights.
    pub fn add_to_row(&mut self, f: usize, delta: &[f32]) {
        let c = self.classes;
        for (w, d) in self.w[f * c..(f + 1) * c].iter_mut().zip(delta) {
            *w += d;
        }
    }

    /// Adds `delta` to the weight of feature `f` for class `c`.
    pub fn add_weight(&mut self, f: usize, c: usize, delta: f32) {
        self.w[f * self.classes + c] += delta;
    }

    /// Bytes held by the weights.
    pub fn weight_bytes(&self) -> usize {
        (self.w.len() + self.b.len()) * std::mem::size_of::<f32>()
    }

    /// Trains on rows `rows` of `xs` (labels `ys`, each `< classes`).
    pub fn train(
        xs: &TrainRows,
        ys: &[u32],
        rows: &[usize],
        features: usize,
        classes: usize,
        p: TrainParams,
    ) -> LinearModel {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { Self::train_avx2(xs, ys, rows, features, classes, p) };
        }
        Self::train_portable(xs, ys, rows, features, classes, p)
    }

    /// [`LinearModel::train`] compiled for AVX2: the loops over classes take 8 floats at a
    /// time instead of 4. Each weight and score sees the same operations in the same order
    /// (Rust never fuses a multiply and an add on its own), so the model is bit for bit the
    /// portable one.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn train_avx2(
        xs: &TrainRows,
        ys: &[u32],
        rows: &[usize],
        features: usize,
        classes: usize,
        p: TrainParams,
    ) -> LinearModel {
        Self::train_portable(xs, ys, rows, features, classes, p)
    }

    #[inline(always)]
    fn train_portable(
        xs: &TrainRows,
        ys: &[u32],
        rows: &[usize],
        features: usize,
        classes: usize,
        p: TrainParams,
    ) -> LinearModel {
        let mut model = LinearModel {
            classes,
            features,
            w: vec![0.0; features * classes],
            b: vec![0.0; classes],
        };
        huge_pages(&mut model.w);
        if rows.is_empty() || classes == 0 {
            return model;
        }
        let mut order: Vec<usize> = rows.to_vec();
        // Per-class step weights: inverse class frequency, normalised to mean 1 over rows.
        let mut class_w = vec![1.0f32; classes];
        if p.class_balance {
            let mut count = vec![0usize; classes];
            for &r in rows {
                count[ys[r] as usize] += 1;
            }
            let present = count.iter().filter(|&&c| c > 0).count().max(1);
            for (w, &c) in class_w.iter_mut().zip(&count) {
                if c > 0 {
                    *w = (rows.len() as f32 / (present as f32 * c as f32)).clamp(0.2, 5.0);
                }
            }
        }
        let epochs = p.epochs.min(p.max_steps.div_ceil(rows.len()).max(3)).max(1);
        let mut avg: Option<(Vec<f32>, Vec<f32>, f32)> = None;

        let mut rng = Rng::new(p.seed);
        let mut z = vec![0.0f32; classes];
        let mut dense = vec![0.0f32; classes];
        let mut active: Vec<(usize, f32)> = Vec::with_capacity(classes);
        // L2 decay applied lazily through a global scale: effective weights are `scale * w`.
        let mut scale = 1.0f32;
        let mut prev_loss = f64::INFINITY;
        let mut step = 0usize;
        let n = rows.len() as f32;
        // Each row's loss in the pass before (see EASY_LOSS); infinite where it was not computed.
        let mut last_loss = vec![f64::INFINITY; xs.len()];
        for epoch in 0..epochs {
            rng.shuffle(&mut order);
            let mut loss = 0.0f64;
            for (i, &r) in order.iter().enumerate() {
                // The next row's weights start loading while this row is worked on: rows of
                // rare features are seldom in cache.
                if let Some(&next) = order
                    .get(i + 1)
                    .filter(|&&next| last_loss[next] >= EASY_LOSS)
                {
                    prefetch_rows(&model.w, classes, xs.row(next));
                }
                // Step size decays slowly: lr / (1 + 0.3 × epochs done).
                let lr = p.learning_rate / (1.0 + 0.3 * step as f32 / n);
                step += 1;
                if last_loss[r] < EASY_LOSS {
                    loss += last_loss[r];
                    last_loss[r] = f64::INFINITY;
                    continue;
                }
                let x = xs.row(r);
                let y = ys[r] as usize;
                let lr = lr * class_w[y];
                model.raw_scores(x, scale, &mut z);
                let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0f32;
                for v in z.iter_mut() {
                    *v = (*v - max).exp();
                    sum += *v;
                }
                let inv = 1.0 / sum;
                let row_loss = -((z[y] * inv).max(1e-12) as f64).ln();
                loss += row_loss;
                if epoch > 0 {
                    last_loss[r] = row_loss;
                }
                if p.l2 > 0.0 {
                    scale *= 1.0 - lr * p.l2;
                    if scale < 1e-3 {
                        model.rescale(scale);
                        scale = 1.0;
                    }
                }
                // Gradient step, row by row: dense when many classes still move, sparse later
                // when only the few confusable classes have a gradient worth applying.
                active.clear();
                for (c, &zc) in z.iter().enumerate() {
                    let g = zc * inv - if c == y { 1.0 } else { 0.0 };
                    if g.abs() >= 1e-3 {
                        active.push((c, lr * g / scale));
                        model.b[c] -= lr * g;
                    }
                }
                if active.len() * 4 > classes {
                    dense.iter_mut().for_each(|d| *d = 0.0);
                    for &(c, g) in &active {
                        dense[c] = g;
                    }
                    x.for_each(|f, v| {
                        let row = &mut model.w[f as usize * classes..(f as usize + 1) * classes];
                        for (w, g) in row.iter_mut().zip(&dense) {
                            *w -= g * v;
                        }
                    });
                } else {
                    x.for_each(|f, v| {
                        let row = &mut model.w[f as usize * classes..(f as usize + 1) * classes];
                        for &(c, g) in &active {
                            row[c] -= g * v;
                        }
                    });
                }
            }
            loss /= n as f64;
            if p.average && epoch > 0 {
                let (aw, ab, k) = avg.get_or_insert_with(|| {
                    (vec![0.0; model.w.len()], vec![0.0; model.b.len()], 0.0)
                });
                for (a, w) in aw.iter_mut().zip(&model.w) {
                    *a += scale * w;
                }
                for (a, b) in ab.iter_mut().zip(&model.b) {
                    *a += b;
                }
                *k += 1.0;
            }
            tracing::debug!(epoch, loss, rows = rows.len(), "sgd pass");
            // Early stopping: another pass is not worth it once the loss barely moves.
            if epoch > 1 && prev_loss - loss < 0.01 * prev_loss {
                break;
            }
            prev_loss = loss;
        }
        model.rescale(scale);
        if let Some((aw, ab, k)) = avg {
            if k > 1.0 {
                model.w = aw.into_iter().map(|a| a / k).collect();
                model.b = ab.into_iter().map(|a| a / k).collect();
            }
        }
        model
    }

    fn rescale(&mut self, scale: f32) {
        if scale != 1.0 {
            for w in &mut self.w {
                *w *= scale;
            }
        }
    }

    #[inline(always)]
    fn raw_scores(&self, x: Row<'_>, scale: f32, out: &mut [f32]) {
        out.copy_from_slice(&self.b);
        let c = self.classes;
        x.for_each(|f, v| {
            let f = f as usize;
            if f >= self.features {
                return;
            }
            let row = &self.w[f * c..(f + 1) * c];
            let sv = scale * v;
            for (o, w) in out.iter_mut().zip(row) {
                *o += sv * w;
            }
        });
    }

    /// Class probabilities for `x` into `out` (length = classes).
    pub fn probabilities(&self, x: Row<'_>, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.probabilities_avx2(x, out) };
        }
        self.probabilities_portable(x, out)
    }

    /// [`LinearModel::probabilities`] for AVX2, with the same results (see `train_avx2`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn probabilities_avx2(&self, x: Row<'_>, out: &mut [f32]) {
        self.probabilities_portable(x, out)
    }

    #[inline(always)]
    fn probabilities_portable(&self, x: Row<'_>, out: &mut [f32]) {
        self.raw_scores(x, 1.0, out);
        let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for v in out.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in out.iter_mut() {
            *v *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intents::features::SparseVec;

    #[test]
    fn learns_a_separable_problem() {
        // Class 0 uses features 0/1, class 1 uses features 2/3.
        let xs = TrainRows::sparse(vec![
            vec![(0, 0.8), (1, 0.6)],
            vec![(0, 1.0)],
            vec![(2, 0.6), (3, 0.8)],
            vec![(3, 1.0)],
        ]);
        let ys = [0, 0, 1, 1];
        let params = TrainParams {
            epochs: 30,
            max_steps: 1_000,
            class_balance: false,
            average: false,
            learning_rate: 0.5,
            l2: 1e-6,
            seed: 1,
            nb_fold: 0.0,
        };
        let m = LinearModel::train(&xs, &ys, &[0, 1, 2, 3], 4, 2, params);
        let mut p = [0.0; 2];
        m.probabilities(Row::sparse(&[(1, 1.0)]), &mut p);
        assert!(p[0] > 0.6, "{p:?}");
        m.probabilities(Row::sparse(&[(2, 1.0)]), &mut p);
        assert!(p[1] > 0.6, "{p:?}");
        assert!((p[0] + p[1] - 1.0).abs() < 1e-5);
    }

    #[test]
    fn the_avx2_build_trains_the_portable_model_bit_for_bit() {
        // 13 classes (not a multiple of 8: the loops' tails count too), 40 features: rows of a
        // few sparse features each with uneven weights, and 3 dense ones.
        let mut rng = Rng::new(7);
        let sparse: Vec<SparseVec> = (0..200)
            .map(|_| {
                let mut x: SparseVec = (0..6)
                    .map(|_| (rng.below(37) as u32, 0.1 + rng.below(90) as f32 / 100.0))
                    .collect();
                x.sort_unstable_by_key(|&(f, _)| f);
                x.dedup_by_key(|&mut (f, _)| f);
                x
            })
            .collect();
        let mut xs = TrainRows::with_dense(sparse, 3, 37);
        for r in 0..200 {
            for v in xs.dense_mut(r) {
                *v = rng.below(100) as f32 / 200.0 - 0.25;
            }
        }
        let ys: Vec<u32> = (0..200).map(|i| (i % 13) as u32).collect();
        let rows: Vec<usize> = (0..200).collect();
        let params = TrainParams {
            epochs: 5,
            max_steps: 10_000,
            class_balance: true,
            average: true,
            learning_rate: 4.0,
            l2: 1e-3,
            seed: 3,
            nb_fold: 0.0,
        };
        let portable = LinearModel::train_portable(&xs, &ys, &rows, 40, 13, params);
        let used = LinearModel::train(&xs, &ys, &rows, 40, 13, params);
        let bits =
            |m: &LinearModel| -> Vec<u32> { m.w.iter().chain(&m.b).map(|v| v.to_bits()).collect() };
        assert!(portable.w.iter().any(|&w| w != 0.0));
        assert_eq!(bits(&portable), bits(&used));
        let (mut a, mut b) = (vec![0.0; 13], vec![0.0; 13]);
        for r in 0..xs.len() {
            used.probabilities_portable(xs.row(r), &mut a);
            used.probabilities(xs.row(r), &mut b);
            assert_eq!(a, b);
        }
    }
}
