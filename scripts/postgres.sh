#!/usr/bin/env bash
# Finds or starts the PostgreSQL server that make run and make test use.
#
#   scripts/postgres.sh url     print a superuser URL with trust auth: the
#                               local server when it answers, else a throwaway
#                               cluster under .cache/postgres, started (and,
#                               as root, installed) when needed
#   scripts/postgres.sh status  print "local URL", "throwaway URL" or "none"
#   scripts/postgres.sh stop    stop the throwaway cluster if it runs
#   scripts/postgres.sh clean   stop it and delete its data
#   scripts/postgres.sh deps    install the postgresql package (as root) when
#                               no server answers and none is installed
#
# LOCAL_POSTGRES_URL names the local server tried first (default
# postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). Point it at a
# port where nothing listens to use the throwaway cluster.
#
# The throwaway cluster is initdb'd with trust auth, listens on 127.0.0.1 on
# a free port from 54320 up, has no Unix socket and runs with fsync off: it
# holds nothing worth keeping. PostgreSQL refuses to run as root, so as root
# it runs as the postgres OS user.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

local_url=${LOCAL_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
# state holds the lock and cluster/: a directory with data/ and
# postgres.log, or a symlink to one in /var/tmp when the postgres user
# cannot reach the repository (a checkout under /root).
state=$root/.cache/postgres

# redact URL hides the password of a URL.
redact() { sed -E 's#(://[^:@/]*):[^@/]*@#\1:xxxxx@#' <<<"$1"; }

# host_port URL prints "HOST PORT".
host_port() {
	local hp=${1#*://}
	hp=${hp%%[/?]*}
	hp=${hp##*@}
	case $hp in
	*:*) echo "${hp%:*} ${hp##*:}" ;;
	*) echo "${hp:-127.0.0.1} 5432" ;;
	esac
}

# port_open HOST PORT succeeds when something accepts TCP connections there.
# shellcheck disable=SC2016 # $0 and $1 are expanded by the inner bash
port_open() { timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

# find_bin NAME [VERSION] prints the path of the PostgreSQL program NAME:
# Debian's /usr/lib/postgresql/VERSION/bin, else the newest version there,
# else PATH.
find_bin() {
	local d
	if [ -n "${2:-}" ] && [ -x "/usr/lib/postgresql/$2/bin/$1" ]; then
		echo "/usr/lib/postgresql/$2/bin/$1"
		return 0
	fi
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
		if [ -x "$d/$1" ]; then
			echo "$d/$1"
			return 0
		fi
	done
	command -v "$1" 2>/dev/null
}

# answers URL succeeds when a server at URL accepts a query without a
# password.
answers() {
	local host port psql
	read -r host port <<<"$(host_port "$1")"
	port_open "$host" "$port" || return 1
	if ! psql=$(find_bin psql); then
		is_root || die "something listens on $host:$port but psql is missing to check it; as root, run: apt-get install -y postgresql-client"
		apt_install postgresql-client || die "could not install psql: apt-get install -y postgresql-client failed"
		psql=$(find_bin psql)
	fi
	PGCONNECT_TIMEOUT=5 "$psql" -X -w -Atq -d "$1" -c 'select 1' >/dev/null 2>&1
}

# ensure_binaries installs PostgreSQL when initdb and pg_ctl are missing.
ensure_binaries() {
	find_bin initdb >/dev/null && find_bin pg_ctl >/dev/null && return 0
	is_root || die "no PostgreSQL answers at $(redact "$local_url") and none is installed; install it as root with: apt-get install -y postgresql"
	apt_install postgresql || die "could not install PostgreSQL: apt-get install -y postgresql failed"
}

# as_pg runs a command as the postgres OS user when we are root, from /
# (the postgres user may not be allowed into the current directory), without
# the lock's file descriptor: a server started here must not hold the lock.
as_pg() {
	if is_root; then
		(cd / && runuser -u postgres -- "$@" 9>&-)
	else
		"$@" 9>&-
	fi
}

# cluster_dir prints the throwaway cluster's directory, or fails when there
# is none yet.
cluster_dir() {
	[ -e "$state/cluster" ] || return 1
	readlink -f "$state/cluster"
}

# make_cluster_dir creates the throwaway cluster's directory and prints it.
make_cluster_dir() {
	if [ ! -e "$state/cluster" ]; then
		if is_root && ! runuser -u postgres -- test -x "$state"; then
			ln -s "$(mktemp -d /var/tmp/transient-postgres.XXXXXX)" "$state/cluster"
		else
			mkdir "$state/cluster"
		fi
	fi
	local dir
	dir=$(cluster_dir)
	if is_root; then
		id postgres >/dev/null 2>&1 ||
			useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
		chown postgres: "$dir"
	fi
	chmod 700 "$dir"
	echo "$dir"
}

# running DATA succeeds when the cluster in DATA runs.
running() {
	[ -f "$1/postmaster.pid" ] || return 1
	as_pg "$(find_bin pg_ctl "$(cat "$1/PG_VERSION")")" -D "$1" status >/dev/null 2>&1
}

# throwaway_url DATA prints the URL of the running cluster in DATA.
throwaway_url() {
	echo "postgres://postgres@127.0.0.1:$(sed -n 4p "$1/postmaster.pid")/postgres?sslmode=disable"
}

# free_port prints a local port where nothing listens.
free_port() {
	local p
	for p in $(seq 54320 54420); do
		if ! port_open 127.0.0.1 "$p"; then
			echo "$p"
			return 0
		fi
	done
	die "no free port in 54320-54420 for the throwaway PostgreSQL"
}

# start_throwaway starts the throwaway cluster (creating it first if
# needed) and prints its URL.
start_throwaway() {
	local dir data version port
	dir=$(make_cluster_dir)
	data=$dir/data
	if [ ! -f "$data/PG_VERSION" ]; then
		say "creating a throwaway PostgreSQL cluster in $data"
		as_pg "$(find_bin initdb)" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync \
			>"$dir/initdb.log" 2>&1 || die "initdb failed: $(cat "$dir/initdb.log")"
	fi
	version=$(cat "$data/PG_VERSION")
	if ! running "$data"; then
		port=$(free_port)
		say "starting the throwaway PostgreSQL $version on 127.0.0.1:$port (log: $dir/postgres.log)"
		as_pg "$(find_bin pg_ctl "$version")" -D "$data" -l "$dir/postgres.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='' -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
			start >/dev/null || die "the throwaway PostgreSQL did not start; see $dir/postgres.log"
	fi
	throwaway_url "$data"
}

# stop_throwaway stops the throwaway cluster if it runs.
stop_throwaway() {
	local data
	data=$(cluster_dir)/data || return 0
	running "$data" || return 0
	as_pg "$(find_bin pg_ctl "$(cat "$data/PG_VERSION")")" -D "$data" -m fast -w stop >/dev/null
	say "stopped the throwaway PostgreSQL ($data)"
}

# lock serializes the commands that start or stop the cluster.
lock() {
	mkdir -p "$state"
	exec 9>"$state/lock"
	flock 9
}

case ${1:-} in
url)
	lock
	if answers "$local_url"; then
		echo "$local_url"
		exit 0
	fi
	ensure_binaries
	# Installing the package may have started a server that answers.
	if answers "$local_url"; then
		echo "$local_url"
		exit 0
	fi
	say "no PostgreSQL answers at $(redact "$local_url"): using a throwaway cluster"
	start_throwaway
	;;
status)
	if answers "$local_url"; then
		echo "local $local_url"
	elif dir=$(cluster_dir) && running "$dir/data"; then
		echo "throwaway $(throwaway_url "$dir/data")"
	else
		echo none
	fi
	;;
stop)
	lock
	stop_throwaway
	;;
clean)
	lock
	stop_throwaway
	if dir=$(cluster_dir); then
		rm -rf "$dir" "$state/cluster"
	fi
	;;
deps)
	answers "$local_url" || ensure_binaries
	;;
*)
	echo "usage: scripts/postgres.sh url|status|stop|clean|deps" >&2
	exit 2
	;;
esac
