//! kaiwu-api
