//! Contract suites for the ports a broker adapter replaces: written against the ports alone,
//! run by the embedded adapters on SQLite and PostgreSQL (`crates/sql/tests`), and to be run
//! by the Kafka and RabbitMQ adapters.

pub mod events;
pub mod jobs;
pub mod search;
