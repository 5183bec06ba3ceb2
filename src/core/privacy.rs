//! Customers' data rights: retention, export and erasure.
