//! Training rows: each row's n-gram features (sparse) and, when the matcher appends an embedding
//! (word vectors in lexical mode, the sentence model's otherwise), its values stored densely.
//!
//! The embedding gives every row the same features, `offset..offset + dim`; kept as sparse
//! pairs, each value would carry a 4-byte index beside it. Stored as a plain matrix, the rows of
//! all of CLINC150 take 7.7 MB less (a quarter of what training holds besides the weights).
//! A row is read as its sparse features then its embedding, in the order a message's appended
//! vector is (see `matcher::decide`), so training sums the same terms in the same order.

use super::features::SparseVec;

pub struct TrainRows {
    sparse: Vec<SparseVec>,
    /// `dim` values per row, row after row.
    dense: Vec<f32>,
    dim: usize,
    /// Feature index of the first dense value.
    offset: u32,
}

/// One row of [`TrainRows`], or a message's features (all sparse).
#[derive(Clone, Copy)]
pub struct Row<'a> {
    pub sparse: &'a [(u32, f32)],
    pub dense: &'a [f32],
    pub offset: u32,
}

impl<'a> Row<'a> {
    /// A row whose features are all in `x`.
    pub fn sparse(x: &'a [(u32, f32)]) -> Row<'a> {
        Row {
            sparse: x,
            dense: &[],
            offset: 0,
        }
    }

    /// Calls `f` with each (feature, value): the sparse ones, then the dense ones.
    #[inline(always)]
    pub fn for_each(self, mut f: impl FnMut(u32, f32)) {
        for &(i, v) in self.sparse {
            f(i, v);
        }
        for (j, &v) in self.dense.iter().enumerate() {
            f(self.offset + j as u32, v);
        }
    }
}

impl TrainRows {
    /// Rows with no dense part.
    pub fn sparse(sparse: Vec<SparseVec>) -> TrainRows {
        TrainRows {
            sparse,
            dense: Vec::new(),
            dim: 0,
            offset: 0,
        }
    }

    /// Rows whose dense part, `dim` values each from feature `offset` on, is filled in by
    /// [`TrainRows::dense_mut`] (zero until then).
    pub fn with_dense(sparse: Vec<SparseVec>, dim: usize, offset: u32) -> TrainRows {
        TrainRows {
            dense: vec![0.0; sparse.len() * dim],
            sparse,
            dim,
            offset,
        }
    }

    pub fn len(&self) -> usize {
        self.sparse.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sparse.is_empty()
    }

    #[inline(always)]
    pub fn row(&self, r: usize) -> Row<'_> {
        Row {
            sparse: &self.sparse[r],
            dense: &self.dense[r * self.dim..(r + 1) * self.dim],
            offset: self.offset,
        }
    }

    /// Moves rows `at..` into rows of their own.
    pub fn split_off(&mut self, at: usize) -> TrainRows {
        TrainRows {
            sparse: self.sparse.split_off(at),
            dense: self.dense.split_off(at * self.dim),
            dim: self.dim,
            offset: self.offset,
        }
    }

    /// The sparse part of every row.
    pub fn sparse_parts(&self) -> &[SparseVec] {
        &self.sparse
    }

    /// Row `r`'s sparse part, to clear (semantic mode keeps the embedding only).
    pub fn sparse_mut(&mut self, r: usize) -> &mut SparseVec {
        &mut self.sparse[r]
    }

    /// Row `r`'s dense part.
    pub fn dense_mut(&mut self, r: usize) -> &mut [f32] {
        &mut self.dense[r * self.dim..(r + 1) * self.dim]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_its_sparse_features_then_its_dense_ones() {
        let mut rows = TrainRows::with_dense(vec![vec![(1, 0.5)], vec![(0, 1.0), (2, 2.0)]], 2, 3);
        rows.dense_mut(1).copy_from_slice(&[7.0, 8.0]);
        let mut seen = Vec::new();
        rows.row(1).for_each(|f, v| seen.push((f, v)));
        assert_eq!(seen, vec![(0, 1.0), (2, 2.0), (3, 7.0), (4, 8.0)]);
        seen.clear();
        rows.row(0).for_each(|f, v| seen.push((f, v)));
        assert_eq!(seen, vec![(1, 0.5), (3, 0.0), (4, 0.0)]);
        let tail = rows.split_off(1);
        assert_eq!((rows.len(), tail.len()), (1, 1));
        seen.clear();
        tail.row(0).for_each(|f, v| seen.push((f, v)));
        assert_eq!(seen, vec![(0, 1.0), (2, 2.0), (3, 7.0), (4, 8.0)]);
    }
}
