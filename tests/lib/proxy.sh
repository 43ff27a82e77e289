# proxy.sh - a TCP proxy between the test hosts, on loopback only, that a
# test can cut (EOF), black-hole (SIGSTOP) and replace.  Source after
# common.sh.  The proxy is tests/lib/proxy.py: one process, one thread, so
# SIGSTOP freezes every connection it carries and SIGKILL ends them all.
#
#   mg_proxy_start NAME LISTEN_HOST:PORT CONNECT_HOST:PORT
#       starts proxy NAME (a new process; the listen port is bound with
#       SO_REUSEADDR, so a restart on the same port works while the old
#       connections are in TIME_WAIT); returns once it listens; registers
#       its teardown.  Files: $MG_TEST_TMP/proxy-NAME.{pid,log,args}.
#   mg_proxy_pid NAME          the running proxy's pid
#   mg_proxy_kill NAME         SIGKILL: the kernel closes both sides of
#                              every connection (the peers read EOF, or
#                              ECONNRESET when bytes were still unread);
#                              waits until the process is gone
#   mg_proxy_blackhole NAME    SIGSTOP: connections stay open, no byte
#                              moves (waits until the process is stopped)
#   mg_proxy_unblackhole NAME  SIGCONT
#   mg_proxy_restart NAME      kills the proxy if it lives (stopped or
#                              not), starts a new process on the same ports
#   mg_proxy_connections NAME  number of connections it carries now
#   mg_proxy_moved NAME        "C2S S2C": bytes the running process moved
#                              so far (its last per-second report; 0 0
#                              before any; a restart starts from 0)
#   mg_proxy_log NAME          its log (connections, EOFs, bytes)
#   mg_proxy_free_port LO HI ADDR...  a port in [LO, HI] free on every ADDR

mg__proxy_file() { echo "$MG_TEST_TMP/proxy-$1.$2"; }
mg_proxy_pid() { cat "$(mg__proxy_file "$1" pid)" 2>/dev/null; }
mg_proxy_log() { mg__proxy_file "$1" log; }

# Only our proxy: the pid must run proxy.py with our pidfile.
mg__proxy_ours() {
	local pid=$1 name=$2
	[[ -n $pid ]] && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null |
		grep -qF "proxy.py $(cat "$(mg__proxy_file "$name" args)" 2>/dev/null) $(mg__proxy_file "$name" pid)"
}

mg_proxy_start() {
	local name=$1 listen=$2 connect=$3 pidf
	pidf=$(mg__proxy_file "$name" pid)
	rm -f "$pidf"
	echo "$listen $connect" >"$(mg__proxy_file "$name" args)"
	setsid /usr/bin/python3 "$MG_SRCDIR/tests/lib/proxy.py" "$listen" "$connect" "$pidf" \
		</dev/null >>"$(mg_proxy_log "$name")" 2>&1 &
	local launched=$!
	disown "$launched" # no "Killed" notice from bash when a test kills it
	if [[ ! -e $(mg__proxy_file "$name" registered) ]]; then
		mg_on_exit "mg_proxy_teardown $name"
		: >"$(mg__proxy_file "$name" registered)"
	fi
	local deadline=$((SECONDS + 10))
	until [[ -s $pidf ]]; do
		kill -0 "$launched" 2>/dev/null || { tail -n 5 "$(mg_proxy_log "$name")" >&2; mg_fail "proxy $name did not start ($listen -> $connect)"; }
		((SECONDS < deadline)) || mg_fail "proxy $name did not listen within 10 s"
		sleep 0.05
	done
	mg_log "proxy $name: $listen -> $connect (pid $(mg_proxy_pid "$name"))"
}

mg_proxy_teardown() {
	local pid; pid=$(mg_proxy_pid "$1") || return 0
	mg__proxy_ours "$pid" "$1" || return 0
	kill -KILL "$pid" 2>/dev/null || true
}

mg__proxy_gone() { ! kill -0 "$1" 2>/dev/null || [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" == Z ]]; }
mg__proxy_stopped() { [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" == T ]]; }

# mg__proxy_signal NAME SIGNAL WAIT-PREDICATE WHAT: signals the running
# proxy and waits until WAIT-PREDICATE holds for its pid.
mg__proxy_signal() {
	local name=$1 sig=$2 until=$3 what=$4 pid
	pid=$(mg_proxy_pid "$name")
	mg__proxy_ours "$pid" "$name" || mg_fail "proxy $name is not running"
	kill "-$sig" "$pid"
	mg_wait_for 5 "proxy $name ($pid) $what" "$until" "$pid"
	mg_log "proxy $name $what (pid $pid)"
}

mg_proxy_kill() { mg__proxy_signal "$1" KILL mg__proxy_gone "killed: its connections are closed"; }
mg_proxy_blackhole() { mg__proxy_signal "$1" STOP mg__proxy_stopped "stopped: connections open, no byte moves"; }

mg_proxy_unblackhole() {
	local pid; pid=$(mg_proxy_pid "$1")
	mg__proxy_ours "$pid" "$1" || mg_fail "proxy $1 is not running"
	kill -CONT "$pid"
}

mg_proxy_restart() {
	local name=$1 pid listen connect
	pid=$(mg_proxy_pid "$name") || true
	if mg__proxy_ours "$pid" "$name"; then
		kill -KILL "$pid"
		mg_wait_for 5 "old proxy $name ($pid) gone" mg__proxy_gone "$pid"
	fi
	read -r listen connect <"$(mg__proxy_file "$name" args)"
	mg_proxy_start "$name" "$listen" "$connect"
}

mg_proxy_connections() {
	local pid n=0 fd
	pid=$(mg_proxy_pid "$1")
	for fd in /proc/"$pid"/fd/*; do
		[[ "$(readlink "$fd" 2>/dev/null)" == socket:* ]] && n=$((n + 1))
	done
	# The listener, then two sockets per connection.
	echo $(((n > 0 ? n - 1 : 0) / 2))
}

mg_proxy_moved() {
	local l
	# The log is appended across restarts: the running process's lines only.
	l=$(grep -F "proxy[$(mg_proxy_pid "$1")]: moved" "$(mg_proxy_log "$1")" 2>/dev/null |
		grep -o 'moved c2s=[0-9]* s2c=[0-9]*' | tail -n 1)
	[[ -n $l ]] || { echo "0 0"; return 0; }
	l=${l#moved c2s=}
	echo "${l% s2c=*} ${l#* s2c=}"
}

mg_proxy_free_port() {
	local lo=$1 hi=$2; shift 2
	/usr/bin/python3 - "$lo" "$hi" "$@" <<-'PY'
		import random, socket, sys
		lo, hi, addrs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
		ports = list(range(lo, hi + 1))
		random.shuffle(ports)
		for p in ports:
		    try:
		        for a in addrs:
		            s = socket.socket()
		            s.bind((a, p))
		            s.close()
		    except OSError:
		        continue
		    print(p)
		    sys.exit(0)
		sys.exit(1)
	PY
}
