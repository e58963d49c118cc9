// Package store will own the ClickHouse schema and its migrations, the
// batched idempotent writer that acknowledges JetStream only after an
// insert succeeded, and the history queries of the API.
//
// Not built yet (issue 6). Until then the JetStream streams are the only
// history, bounded by the retention in the events configuration.
package store
