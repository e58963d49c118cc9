package store

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ClusterSchema derives the DDL of a ClickHouse cluster (shards of
// replicas) from the migrations, so the single-node schema stays the one
// place that owns the tables:
//
//   - every table becomes <name>_local, created ON CLUSTER with the
//     Replicated variant of its engine, its ZooKeeper/Keeper path keyed by
//     the {shard} and {replica} macros of each server;
//   - <name> becomes a Distributed table over the <name>_local tables,
//     which is what the writer inserts into and the queries read. Event
//     tables are sharded by cityHash64(id), so the copies of an event
//     land on one shard, where the writer's look-up and FINAL see them;
//     rejected_events by its (stream, seq) key; the rollups are only read
//     through it (rand());
//   - the materialized views read flows_local and write the local rollups
//     of their own shard;
//   - an ALTER TABLE (a column added) runs ON CLUSTER on <name>_local,
//     then on the Distributed <name>;
//   - schema_migrations is one replicated table on every server (the
//     writer checks the version there), filled with the versions this
//     DDL contains: the writer then runs with migrate: false.
//
// The writer's look-up of stored IDs reads the Distributed table; with
// the sharding by ID it asks the one shard that can hold each copy.
func ClusterSchema(cluster, database string) ([]string, error) {
	if !identifier.MatchString(cluster) || !identifier.MatchString(database) {
		return nil, fmt.Errorf("cluster schema: %q and %q must be plain identifiers", cluster, database)
	}
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	var tables []string
	for _, m := range ms {
		for _, s := range m.Statements {
			if name, ok := strings.CutPrefix(s, "CREATE TABLE IF NOT EXISTS "); ok {
				tables = append(tables, strings.Fields(name)[0])
			}
		}
	}
	local := func(s string) string {
		for _, t := range tables {
			s = regexp.MustCompile(`\b(TO|FROM) `+t+`\b`).ReplaceAllString(s, "$1 "+database+"."+t+"_local")
		}
		return s
	}
	on := " ON CLUSTER " + cluster
	out := []string{
		"CREATE DATABASE IF NOT EXISTS " + database + on,
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.schema_migrations%s (\n    version UInt32,\n    name String,\n    checksum String,\n    applied DateTime('UTC') DEFAULT now()\n) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/%s/schema_migrations', '{replica}')\nORDER BY version", database, on, database),
	}
	engine := regexp.MustCompile(`\) ENGINE = (\w+)(\(([^\n]*)\))?\n`)
	for _, m := range ms {
		for _, s := range m.Statements {
			switch {
			case strings.HasPrefix(s, "CREATE TABLE IF NOT EXISTS "):
				name := strings.Fields(strings.TrimPrefix(s, "CREATE TABLE IF NOT EXISTS "))[0]
				loc := name + "_local"
				body := strings.Replace(s, "CREATE TABLE IF NOT EXISTS "+name+" (", "CREATE TABLE IF NOT EXISTS "+database+"."+loc+on+" (", 1)
				em := engine.FindStringSubmatch(body)
				if em == nil {
					return nil, fmt.Errorf("cluster schema: table %s: no engine found", name)
				}
				args := fmt.Sprintf("'/clickhouse/tables/{shard}/%s/%s', '{replica}'", database, loc)
				if em[3] != "" {
					args += ", " + em[3]
				}
				body = strings.Replace(body, em[0], ") ENGINE = Replicated"+em[1]+"("+args+")\n", 1)
				key := "cityHash64(id)"
				switch {
				case name == "rejected_events":
					key = "cityHash64(stream, seq)"
				case strings.HasPrefix(name, "traffic_"):
					key = "rand()"
				}
				out = append(out, body, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s%s AS %s.%s\nENGINE = Distributed(%s, %s, %s, %s)",
					database, name, on, database, loc, cluster, database, loc, key))
			case strings.HasPrefix(s, "CREATE MATERIALIZED VIEW IF NOT EXISTS "):
				name := strings.Fields(strings.TrimPrefix(s, "CREATE MATERIALIZED VIEW IF NOT EXISTS "))[0]
				body := strings.Replace(s, "VIEW IF NOT EXISTS "+name+" ", "VIEW IF NOT EXISTS "+database+"."+name+on+" ", 1)
				out = append(out, local(body))
			case strings.HasPrefix(s, "ALTER TABLE "):
				// A column change goes to the local tables and to the
				// Distributed one over them, locals first: the
				// Distributed table must not name a column they lack.
				name := strings.Fields(strings.TrimPrefix(s, "ALTER TABLE "))[0]
				if !slices.Contains(tables, name) {
					return nil, fmt.Errorf("cluster schema: migration %03d_%s: ALTER of unknown table %s", m.Version, m.Name, name)
				}
				rest := strings.TrimPrefix(s, "ALTER TABLE "+name)
				out = append(out, "ALTER TABLE "+database+"."+name+"_local"+on+rest, "ALTER TABLE "+database+"."+name+on+rest)
			default:
				return nil, fmt.Errorf("cluster schema: migration %03d_%s: statement not handled: %.60s", m.Version, m.Name, s)
			}
		}
		out = append(out, fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, checksum) VALUES (%d, '%s', '%s')", database, m.Version, m.Name, m.Checksum))
	}
	return out, nil
}
