// Applies ../../migrations/*.sql and runs probe.sql on chDB, the ClickHouse
// engine in process (npm i chdb). Prints the probes' answers as TSV.
const { Session } = require("chdb");
const fs = require("fs"), os = require("os"), path = require("path");
const here = __dirname;
const split = (text) => text.split("\n").filter((l) => !l.trim().startsWith("--")).join("\n")
  .split(/;\s*\n/).map((s) => s.trim().replace(/;$/, "")).filter(Boolean);
const s = new Session(fs.mkdtempSync(path.join(os.tmpdir(), "vigil-chdb-")));
let failed = 0;
const run = (sql) => { try { return s.query("USE vigil; " + sql, "TSV"); } catch (e) { failed++; console.error("FAIL:", sql.slice(0, 120), "\n ", e.message.split("\n")[0]); return ""; } };
console.error("chDB", s.query("SELECT version()", "TSV").trim());
s.query("CREATE DATABASE IF NOT EXISTS vigil");
run("CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, checksum String, applied DateTime('UTC') DEFAULT now()) ENGINE = ReplacingMergeTree ORDER BY version");
const dir = path.join(here, "..", "..", "migrations");
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
  for (const stmt of split(fs.readFileSync(path.join(dir, f), "utf8"))) run(stmt);
  run(`INSERT INTO schema_migrations (version, name, checksum) VALUES (${parseInt(f)}, '${f.slice(4, -4)}', 'x')`);
}
for (const stmt of split(fs.readFileSync(path.join(here, "probe.sql"), "utf8"))) process.stdout.write(run(stmt));
s.close();
process.exit(failed ? 1 : 0);
