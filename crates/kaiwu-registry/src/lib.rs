//! kaiwu-registry
