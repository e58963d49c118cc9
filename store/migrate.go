package store

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The DDL lives here and only here: migrations/NNN_name.sql, applied in
// order of NNN and recorded in schema_migrations.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	// Statements are run one by one: the native protocol takes one
	// statement per query.
	Statements []string
	// Checksum is the SHA-256 of the file, recorded when it is applied so
	// that editing an applied migration is caught instead of ignored.
	Checksum string
}

var migrationName = regexp.MustCompile(`^(\d{3})_([a-z0-9_]+)\.sql$`)

// Migrations returns the embedded migrations in order. Versions start at 1
// and have no gaps.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s: name is not NNN_name.sql", e.Name())
		}
		text, err := fs.ReadFile(migrationFiles, "migrations/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		stmts, err := splitStatements(string(text))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		v, _ := strconv.Atoi(m[1])
		sum := sha256.Sum256(text)
		out = append(out, Migration{Version: v, Name: m[2], Statements: stmts, Checksum: hex.EncodeToString(sum[:])})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %03d_%s: expected version %d (versions start at 1, without gaps or repeats)", m.Version, m.Name, i+1)
		}
	}
	return out, nil
}

// LatestVersion is the schema version this build writes and reads.
func LatestVersion() int {
	ms, err := Migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    checksum String,
    applied DateTime('UTC') DEFAULT now()
) ENGINE = ReplacingMergeTree
ORDER BY version`

// Migrate brings the connection's database to the latest schema.
func Migrate(ctx context.Context, conn driver.Conn) error {
	return MigrateTo(ctx, conn, 0)
}

// MigrateTo applies the migrations not yet applied, in order, up to and
// including version target (0 means all). It is idempotent: applied
// migrations are skipped, and a migration interrupted half way is run
// again from its first statement, whose CREATE ... IF NOT EXISTS (and, for
// statements without IF NOT EXISTS on 18.16, an "already exists" answer)
// make the repetition harmless.
func MigrateTo(ctx context.Context, conn driver.Conn, target int) error {
	all, err := Migrations()
	if err != nil {
		return err
	}
	if target <= 0 || target > len(all) {
		target = len(all)
	}
	if err := conn.Exec(ctx, createSchemaMigrations); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	applied, err := appliedMigrations(ctx, conn)
	if err != nil {
		return err
	}
	for _, m := range all[:target] {
		if sums, ok := applied[m.Version]; ok {
			for _, sum := range sums {
				if sum != m.Checksum {
					return fmt.Errorf("migration %03d_%s was changed after it was applied (checksum %.12s, applied %.12s): add a new migration instead", m.Version, m.Name, m.Checksum, sum)
				}
			}
			continue
		}
		for i, stmt := range m.Statements {
			if err := conn.Exec(ctx, stmt); err != nil && !alreadyDone(err) {
				return fmt.Errorf("migration %03d_%s statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		if err := recordMigration(ctx, conn, m); err != nil {
			return fmt.Errorf("record migration %03d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// recordMigration inserts the row of an applied migration. It is a native
// insert: 18.16 waits for a data block after an INSERT ... VALUES sent as
// a plain query, which clickhouse-go does not send.
func recordMigration(ctx context.Context, conn driver.Conn, m Migration) error {
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied)")
	if err != nil {
		return err
	}
	if err := batch.Append(uint32(m.Version), m.Name, m.Checksum, time.Now().UTC()); err != nil {
		batch.Abort()
		return err
	}
	return batch.Send()
}

// SchemaVersion returns the highest migration applied to the
// connection's database (0 for none).
func SchemaVersion(ctx context.Context, conn driver.Conn) (int, error) {
	applied, err := appliedMigrations(ctx, conn)
	if err != nil {
		return 0, err
	}
	v := 0
	for k := range applied {
		v = max(v, k)
	}
	return v, nil
}

// appliedMigrations returns the checksums recorded for each applied
// version (one, unless a migration was edited and applied again).
func appliedMigrations(ctx context.Context, conn driver.Conn) (map[int][]string, error) {
	rows, err := conn.Query(ctx, "SELECT version, groupUniqArray(checksum) FROM schema_migrations GROUP BY version")
	if err != nil {
		if exceptionCode(err) == codeUnknownTable {
			return map[int][]string{}, nil
		}
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	out := map[int][]string{}
	for rows.Next() {
		var v uint32
		var sums []string
		if err := rows.Scan(&v, &sums); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		out[int(v)] = sums
	}
	return out, rows.Err()
}

// ClickHouse error codes the store branches on.
const (
	codeDuplicateColumn = 15 // DUPLICATE_COLUMN (newer servers, ADD COLUMN)
	codeNoSuchColumn    = 16 // NO_SUCH_COLUMN_IN_TABLE (a DROP COLUMN repeated)
	codeIllegalColumn   = 44 // ILLEGAL_COLUMN: 18.16's "column with this name already exists"
	codeTableExists     = 57 // TABLE_ALREADY_EXISTS
	codeUnknownTable    = 60 // UNKNOWN_TABLE
	codeDatabaseExists  = 82 // DATABASE_ALREADY_EXISTS
)

// alreadyDone says whether a statement failed only because an earlier
// run of its migration already did it.
func alreadyDone(err error) bool {
	switch exceptionCode(err) {
	case codeDuplicateColumn, codeNoSuchColumn, codeTableExists, codeDatabaseExists:
		return true
	case codeIllegalColumn:
		return strings.Contains(err.Error(), "already exists")
	}
	return false
}

// splitStatements cuts a migration file into statements at semicolons
// outside quotes, dropping "--" comments and empty statements.
func splitStatements(text string) ([]string, error) {
	var out []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote != 0:
			cur.WriteByte(c)
			if c == '\\' && i+1 < len(text) {
				i++
				cur.WriteByte(text[i])
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
			cur.WriteByte(c)
		case c == '-' && i+1 < len(text) && text[i+1] == '-':
			for i < len(text) && text[i] != '\n' {
				i++
			}
			cur.WriteByte('\n')
		case c == ';':
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, s)
			}
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no statement")
	}
	return out, nil
}
