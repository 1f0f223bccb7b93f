//! Choosing the engine from `VEILGRAM_DATABASE_URL`. An unknown scheme is refused loudly: never
//! silently create an empty database where the operator meant another.

use std::fmt;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A database URL whose engine is known.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    engine: Engine,
    url: String,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unsupported database URL scheme {0:?}: use sqlite://<path> or postgres://<host>/<database>"
)]
pub struct UnsupportedScheme(pub String);

impl DatabaseUrl {
    /// Accepts `sqlite:` / `sqlite://` and `postgres://` / `postgresql://` URLs.
    pub fn parse(url: &str) -> Result<Self, UnsupportedScheme> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme).unwrap_or("");
        let engine = match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Engine::Sqlite,
            "postgres" | "postgresql" => Engine::Postgres,
            _ => return Err(UnsupportedScheme(scheme.to_owned())),
        };
        Ok(Self {
            engine,
            url: url.to_owned(),
        })
    }

    /// The embedded default: a SQLite file, created if missing.
    pub fn sqlite_file(path: &Path) -> Self {
        Self {
            engine: Engine::Sqlite,
            url: format!("sqlite://{}?mode=rwc", path.display()),
        }
    }

    pub const fn engine(&self) -> Engine {
        self.engine
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }
}

/// Never prints credentials: only the engine and, for SQLite, the path.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.engine {
            Engine::Sqlite => write!(f, "{}", self.url),
            Engine::Postgres => write!(f, "postgres://[redacted]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_engine_from_the_scheme() {
        let sqlite = DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap();
        assert_eq!(sqlite.engine(), Engine::Sqlite);
        let postgres = DatabaseUrl::parse("postgresql://u:secret@h/db").unwrap();
        assert_eq!(postgres.engine(), Engine::Postgres);
        assert!(!format!("{postgres:?}").contains("secret"));
    }

    #[test]
    fn refuses_other_schemes() {
        for url in ["mysql://h/db", "redis://h", "/tmp/x.db", "", "file:x.db"] {
            assert!(DatabaseUrl::parse(url).is_err(), "{url} must be refused");
        }
    }
}
