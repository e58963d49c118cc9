package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/go-cmp/cmp"

	"github.com/vigil-health/vigil/events"
	"github.com/vigil-health/vigil/store/chtest"
)

func TestSplitStatements(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		err      bool
	}{
		{name: "two", in: "CREATE TABLE a (x UInt8) ENGINE = Memory;\nCREATE TABLE b (x UInt8) ENGINE = Memory;\n",
			want: []string{"CREATE TABLE a (x UInt8) ENGINE = Memory", "CREATE TABLE b (x UInt8) ENGINE = Memory"}},
		{name: "comments dropped", in: "-- a comment; with a semicolon\nSELECT 1 -- trailing; comment\n;",
			want: []string{"SELECT 1"}},
		{name: "semicolon in quotes", in: "SELECT 'a;b', \"c;d\", `e;f`, 'it\\'s;'", want: []string{"SELECT 'a;b', \"c;d\", `e;f`, 'it\\'s;'"}},
		{name: "no final semicolon", in: "SELECT 1;\nSELECT 2", want: []string{"SELECT 1", "SELECT 2"}},
		{name: "dash in quotes is not a comment", in: "SELECT '--x'", want: []string{"SELECT '--x'"}},
		{name: "unterminated", in: "SELECT 'a", err: true},
		{name: "empty", in: "-- nothing\n;\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitStatements(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("error = %v, want error %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("statements (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMigrationsAreNumberedInOrder(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 3 {
		t.Fatalf("%d migrations, want at least 3", len(ms))
	}
	for i, m := range ms {
		if m.Version != i+1 || m.Name == "" || len(m.Statements) == 0 || len(m.Checksum) != 64 {
			t.Errorf("migration %d: %+v", i, m)
		}
	}
	if LatestVersion() != len(ms) {
		t.Errorf("LatestVersion() = %d, want %d", LatestVersion(), len(ms))
	}
}

// schemaDump is what the migrations produced, with the database name
// taken out so that two databases compare.
type schemaDump struct {
	Tables  []string // name, engine and the CREATE statement
	Columns []string // table.name type, default, key membership
}

func dumpSchema(t *testing.T, conn driver.Conn, db string) schemaDump {
	t.Helper()
	ctx := context.Background()
	var d schemaDump
	rows, err := conn.Query(ctx, "SELECT name, engine, create_table_query FROM system.tables WHERE database = ? ORDER BY name", db)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, engine, create string
		if err := rows.Scan(&name, &engine, &create); err != nil {
			t.Fatal(err)
		}
		create = strings.ReplaceAll(create, db+".", "")
		d.Tables = append(d.Tables, fmt.Sprintf("%s %s: %s", name, engine, create))
	}
	rows.Close()
	rows, err = conn.Query(ctx, `SELECT table, name, type, default_kind, default_expression,
		is_in_partition_key, is_in_sorting_key, is_in_primary_key
		FROM system.columns WHERE database = ? ORDER BY table, name`, db)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, name, typ, kind, expr string
		var part, sort, pk uint8
		if err := rows.Scan(&table, &name, &typ, &kind, &expr, &part, &sort, &pk); err != nil {
			t.Fatal(err)
		}
		d.Columns = append(d.Columns, fmt.Sprintf("%s.%s %s %s %s part=%d sort=%d pk=%d", table, name, typ, kind, expr, part, sort, pk))
	}
	rows.Close()
	return d
}

// TestMigrateFromEveryState applies migrations 1..k for every k, then the
// rest, and compares the schema with a fresh application of all of them:
// an upgrade from any released schema must end where a new install does.
// Running Migrate again must change nothing.
func TestMigrateFromEveryState(t *testing.T) {
	s := chtest.Shared(t)
	ctx := context.Background()
	freshCfg := testConfig(t, s)
	fresh := openDB(t, freshCfg)
	want := dumpSchema(t, fresh, freshCfg.Database)
	if len(want.Tables) == 0 {
		t.Fatal("fresh schema has no tables")
	}
	if err := Migrate(ctx, fresh); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if diff := cmp.Diff(want, dumpSchema(t, fresh, freshCfg.Database)); diff != "" {
		t.Errorf("a second Migrate changed the schema (-before +after):\n%s", diff)
	}
	if n := queryUint(t, fresh, "SELECT count() FROM schema_migrations FINAL"); n != uint64(LatestVersion()) {
		t.Errorf("schema_migrations has %d rows, want %d", n, LatestVersion())
	}

	for k := 0; k < LatestVersion(); k++ {
		t.Run(fmt.Sprintf("from_%03d", k), func(t *testing.T) {
			cfg := testConfig(t, s)
			conn, err := Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if k > 0 {
				if err := MigrateTo(ctx, conn, k); err != nil {
					t.Fatal(err)
				}
				if v, err := SchemaVersion(ctx, conn); err != nil || v != k {
					t.Fatalf("after MigrateTo(%d): version %d, %v", k, v, err)
				}
			}
			if err := Migrate(ctx, conn); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, dumpSchema(t, conn, cfg.Database)); diff != "" {
				t.Errorf("schema after 1..%d then the rest differs from a fresh one (-fresh +upgraded):\n%s", k, diff)
			}
		})
	}
}

// TestMigrateResumesInterruptedMigration runs a migration's statements
// half way without recording it, as a crash would leave it: the next
// Migrate must finish it.
func TestMigrateResumesInterruptedMigration(t *testing.T) {
	s := chtest.Shared(t)
	ctx := context.Background()
	cfg := testConfig(t, s)
	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ms, _ := Migrations()
	if err := MigrateTo(ctx, conn, 1); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range ms[1].Statements[:len(ms[1].Statements)/2+1] {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := Migrate(ctx, conn); err != nil {
		t.Fatalf("Migrate after an interrupted migration: %v", err)
	}
	if v, _ := SchemaVersion(ctx, conn); v != LatestVersion() {
		t.Errorf("version %d, want %d", v, LatestVersion())
	}

	// Statements without IF NOT EXISTS on 18.16 (ADD COLUMN) answer
	// "already exists" when repeated, which counts as done.
	err = conn.Exec(ctx, "ALTER TABLE flows ADD COLUMN phase String")
	if err == nil || !alreadyDone(err) {
		t.Errorf("repeated ADD COLUMN: %v, want an error alreadyDone accepts", err)
	}
	if err := conn.Exec(ctx, "SELECT no_such_function()"); alreadyDone(err) {
		t.Errorf("alreadyDone(%v) = true", err)
	}
}

func TestMigrateRefusesAnEditedMigration(t *testing.T) {
	s := chtest.Shared(t)
	ctx := context.Background()
	conn := openDB(t, testConfig(t, s))
	edited := Migration{Version: 1, Name: "events", Checksum: "edited"}
	if err := recordMigration(ctx, conn, edited); err != nil {
		t.Fatal(err)
	}
	err := Migrate(ctx, conn)
	if err == nil || !strings.Contains(err.Error(), "changed after it was applied") {
		t.Errorf("Migrate = %v, want an edited-migration error", err)
	}
}

// TestTablesMatchTheCode checks that every column the writer inserts
// exists with the type its Go value needs, and that the writer inserts
// every column (a column it leaves out would silently stay empty).
func TestTablesMatchTheCode(t *testing.T) {
	s := chtest.Shared(t)
	cfg := testConfig(t, s)
	conn := openDB(t, cfg)
	for _, k := range events.Kinds {
		r, ok := newKindRows()[k]
		if !ok {
			t.Errorf("kind %s has no table", k)
			continue
		}
		rows, err := conn.Query(context.Background(), "SELECT name FROM system.columns WHERE database = ? AND table = ?", cfg.Database, r.table())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
		}
		rows.Close()
		want := slices.Clone(r.columnNames())
		slices.Sort(got)
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: columns of the code (-) and of the table (+):\n%s", r.table(), diff)
		}
	}
}

// TestEveryKindHasATable fails as soon as a kind is added to events.Kinds
// without a table here: its events would otherwise be rejected by the
// writer instead of stored. It needs no server.
func TestEveryKindHasATable(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]bool{}
	for _, m := range ms {
		for _, s := range m.Statements {
			if name, ok := strings.CutPrefix(s, "CREATE TABLE IF NOT EXISTS "); ok {
				created[strings.Fields(name)[0]] = true
			}
		}
	}
	rows := newKindRows()
	for _, k := range events.Kinds {
		r, ok := rows[k]
		if !ok {
			t.Errorf("kind %s has no table: add a migration and its rows in rows.go", k)
			continue
		}
		if !created[r.table()] {
			t.Errorf("kind %s: no migration creates table %s", k, r.table())
		}
	}
	if len(rows) != len(events.Kinds) {
		t.Errorf("%d tables for %d kinds", len(rows), len(events.Kinds))
	}
}
