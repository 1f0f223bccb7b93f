//! What a storage port can answer besides success. Adapters translate driver errors into these.

/// The failure of a storage operation, translated from the engine's own error by the adapter.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row the operation needs does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; the string names the rule (e.g. `nickname`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// The engine failed or could not be reached. The message is for logs, never for clients.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}
