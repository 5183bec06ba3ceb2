//! Intent files, validation, matching, evaluation (being written).
