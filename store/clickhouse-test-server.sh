#!/usr/bin/env bash
# clickhouse-test-server.sh starts and stops a throw-away ClickHouse server
# for tests: free ports, a temporary data directory, its own configuration,
# no systemd.
#
#   clickhouse-test-server.sh start [DIR]  start a server whose files live in
#                                          DIR (created with mktemp -d when
#                                          absent); print its native port on
#                                          stdout. Starting again on the same
#                                          DIR reuses its ports and data.
#   clickhouse-test-server.sh stop DIR     stop the server of DIR by its PID
#                                          (kept in DIR/pid); the data stays.
#   clickhouse-test-server.sh clean DIR    stop it and remove DIR.
#   clickhouse-test-server.sh version      print the installed server version.
#
# The server runs as the invoking user (root works: the data directory
# belongs to whoever starts it). Set CLICKHOUSE_SERVER to use another
# binary. With CLICKHOUSE_TEST_PARENT=PID the server is also stopped when
# that process ends, so a test binary killed by its timeout leaves no
# server behind. Diagnostics go to stderr and DIR/log/.
set -euo pipefail

server=${CLICKHOUSE_SERVER:-$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)}
client=${CLICKHOUSE_CLIENT:-$(command -v clickhouse-client || echo /usr/bin/clickhouse-client)}

die() { echo "clickhouse-test-server: $*" >&2; exit 1; }

# in_use says whether something listens on TCP port $1 of the loopback.
in_use() {
	if command -v ss >/dev/null; then
		ss -Hltn "sport = :$1" | grep -q .
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# free_port prints a TCP port nobody listens on, from 20000-49999 (below
# the kernel's ephemeral range, where clients' ports come from).
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 30000))
		if ! in_use "$p"; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

write_config() {
	local dir=$1 tcp=$2 http=$3
	mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
	cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/server.log</log>
        <errorlog>$dir/log/server.err.log</errorlog>
        <size>100M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$tcp</tcp_port>
    <http_port>$http</http_port>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <mlock_executable>false</mlock_executable>
</yandex>
EOF
	cat >"$dir/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <max_threads>2</max_threads>
            <!-- Idle connections notice a shutdown within a second (10 by
                 default), so a test that stops the server does not wait. -->
            <poll_interval>1</poll_interval>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
	echo "$tcp" >"$dir/tcp_port"
	echo "$http" >"$dir/http_port"
}

running() { [[ -f $1/pid ]] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

start() {
	local dir=${1:-}
	[[ -x $server ]] || die "clickhouse-server not found (install the clickhouse-server package)"
	[[ -n $dir ]] || dir=$(mktemp -d "${TMPDIR:-/tmp}/vigil-clickhouse.XXXXXX")
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if running "$dir"; then
		cat "$dir/tcp_port"
		return
	fi
	local fresh=0 attempt
	if [[ ! -f $dir/config.xml ]]; then
		fresh=1
		write_config "$dir" "$(free_port)" "$(free_port)"
	fi
	# A port found free can be taken by someone else before the server
	# binds it: a fresh server retries on other ports.
	for attempt in 1 2 3; do
		if launch "$dir"; then
			cat "$dir/tcp_port"
			return
		fi
		((fresh)) && grep -q "Address already in use" "$dir/log/server.err.log" "$dir/log/stderr.log" 2>/dev/null || break
		: >"$dir/log/server.err.log"
		write_config "$dir" "$(free_port)" "$(free_port)"
	done
	tail -20 "$dir/log/server.err.log" "$dir/log/stderr.log" >&2 2>/dev/null || true
	die "server did not start ($dir)"
}

# launch starts the server of $1 and waits until it answers.
launch() {
	local dir=$1 tcp pid
	tcp=$(cat "$dir/tcp_port")
	# setsid: the server outlives this script and is not killed with the
	# caller's process group; it is stopped by its PID.
	(cd "$dir" && exec setsid "$server" --config-file="$dir/config.xml" \
		>>"$dir/log/stdout.log" 2>>"$dir/log/stderr.log" </dev/null) &
	pid=$!
	echo "$pid" >"$dir/pid"
	if [[ -n ${CLICKHOUSE_TEST_PARENT:-} ]]; then
		setsid bash -c "while kill -0 $CLICKHOUSE_TEST_PARENT 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 1; done; kill -TERM $pid 2>/dev/null" \
			>/dev/null 2>&1 </dev/null &
	fi
	# Ready when the server on the port is this one: another server that
	# holds the port would answer too (and this one would then exit).
	local want="$dir/data/data/default/" got
	for _ in $(seq 300); do
		got=$("$client" --host 127.0.0.1 --port "$tcp" --query \
			"SELECT data_path FROM system.databases WHERE name = 'default'" 2>/dev/null) || got=
		if [[ $got == "$want" ]]; then
			return 0
		fi
		running "$dir" || return 1
		sleep 0.1
	done
	stop "$dir"
	return 1
}

stop() {
	local dir=${1:?stop needs the server directory}
	running "$dir" || { rm -f "$dir/pid"; return 0; }
	local pid
	pid=$(cat "$dir/pid")
	kill -TERM "$pid"
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$dir/pid"; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$dir/pid"
}

case ${1:-} in
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
clean)
	stop "${2:?clean needs the server directory}"
	rm -rf "$2"
	;;
version)
	[[ -x $client ]] || die "clickhouse-client not found"
	"$client" --version
	;;
*) die "usage: $0 start [DIR] | stop DIR | clean DIR | version" ;;
esac
