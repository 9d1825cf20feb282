#!/usr/bin/env bash
# Makes sure a RabbitMQ broker answers for the AMQP tests: the one at
# 127.0.0.1:5672 (guest/guest), or the host and port of TEST_AMQP_URL. When
# none answers it installs Debian's rabbitmq-server (as root) if missing and
# starts it in the background. It never stops a broker: one it started keeps
# running for the next run, like a broker the machine started.
#
#   scripts/rabbitmq.sh
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

url=${TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
hp=${url#*://}
hp=${hp%%/*}
hp=${hp##*@}
host=${hp%:*}
port=${hp##*:}
[ "$port" != "$hp" ] || port=5672

# shellcheck disable=SC2016 # $0 and $1 are expanded by the inner bash
answers() { timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null; }

if answers; then
	exit 0
fi
case $host in
127.0.0.1 | localhost) ;;
*) die "no RabbitMQ answers at $host:$port (TEST_AMQP_URL): start it there" ;;
esac
if ! command -v rabbitmq-server >/dev/null 2>&1; then
	is_root || die "no RabbitMQ answers at $host:$port and rabbitmq-server is missing: as root, run: apt-get install -y rabbitmq-server"
	apt_install rabbitmq-server || die "could not install rabbitmq-server: apt-get install -y rabbitmq-server failed"
	# Debian's package starts the broker where systemd runs; give it a moment.
	for _ in $(seq 1 20); do
		answers && exit 0
		sleep 0.5
	done
fi
say "starting rabbitmq-server in the background (no broker answered at $host:$port)"
rabbitmq-server -detached >&2 || die "rabbitmq-server -detached failed"
for _ in $(seq 1 120); do
	if answers; then
		# The port opens before the broker accepts logins; wait for the boot.
		timeout 60 rabbitmqctl await_startup >/dev/null 2>&1 || true
		say "RabbitMQ answers at $host:$port"
		exit 0
	fi
	sleep 0.5
done
die "rabbitmq-server did not answer at $host:$port within 60s; see /var/log/rabbitmq/"
