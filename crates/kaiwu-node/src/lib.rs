//! kaiwu-node
