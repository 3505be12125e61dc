//! Moodle role preset XML (SEMANTICS.md §5).
