#!/bin/sh
# bench/spawn-idle.sh - what 500 idle ondemand pools cost the spawner.
#
#   bench/spawn-idle.sh [N]          (default N=500; run as root)
#
# Writes N ondemand pools (php-cgi, user vf-bench, one socket each) into a
# temp dir, then reports - a report, not a test:
#   startup   time of `vhostfcgi-spawn -c FILE` until the daemon is up
#             (the parent exits once the daemon has bound every socket),
#             and the CPU time that took (the figure a loaded machine
#             does not distort)
#   RSS       of the daemon, idle, after startup and after the reloads
#   workers   (must be 0: idle ondemand pools cost no process)
#   idle CPU  the daemon's CPU time over 5 idle seconds
#   reload    SIGHUP with nothing changed, and with one pool changed, one
#             added, one removed: the daemon's own "reloaded in N ms" and
#             the wall time until that line is written
#   cold      the first request to 20 idle pools: php-cgi started on
#             demand (median and max; issue 6 asks < 50 ms)
# Targets (issue 6): RSS < 5 MB, startup < 1 s, reload < 1 s.
set -eu

N=${1:-500}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${VF_SPAWN_BIN:-$ROOT/build/vhostfcgi-spawn}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -x "$BIN" ] || { echo "$BIN missing: make spawner" >&2; exit 1; }
id vf-bench >/dev/null 2>&1 || useradd --system --no-create-home \
    --shell /usr/sbin/nologin --user-group vf-bench

DIR=$(mktemp -d /tmp/vfspawn-bench.XXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null || true
    i=0
    while [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1; i=$((i + 1))
    done
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

now_ms() { date +%s%3N; }

write_pools() {     # $1: extra text appended, $2: pools to leave out
    {
        printf '[global]\nrun_dir = %s/run\nerror_log = %s/spawn.log\n' "$DIR" "$DIR"
        printf 'pid = %s/spawn.pid\nprocess.max = 1000\n\n' "$DIR"
        printf '[site]\nistemplate = 1\ncommand = /usr/bin/php-cgi8.2\n'
        printf 'user = vf-bench\npm = ondemand\npm.max_children = 5\n'
        printf 'pm.process_idle_timeout = 10s\nenv[PATH] = /usr/bin:/bin\n\n'
        i=1
        while [ $i -le "$N" ]; do
            [ "$i" = "${2:-0}" ] || printf '[s%d]\ntemplate = site\n' $i
            i=$((i + 1))
        done
        printf '%s' "${1:-}"
    } > "$DIR/pools.conf"
}

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
cpu_ms() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat"
}
# Sends SIGHUP and waits for the next "reloaded in" line; prints the
# daemon's own figure and the wall time from kill to that line.
reload() {          # $1: label
    perl -MTime::HiRes=time,sleep -e '
        my ($pid, $log, $label) = @ARGV;
        my $count = sub { open my $f, "<", $log or return 0;
                          scalar grep { /reloaded in/ } <$f> };
        my $before = $count->();
        my $t0 = time;
        kill "HUP", $pid;
        sleep 0.001 while $count->() == $before && time - $t0 < 10;
        my $wall = (time - $t0) * 1000;
        open my $f, "<", $log;
        my ($line) = (grep { /reloaded in/ } <$f>)[-1];
        my ($ms, $what) = $line =~ /reloaded in (\d+) ms: (.*)/;
        printf "%-28s %5d ms (daemon), %4.0f ms (wall)  %s\n",
               "reload, $label:", $ms, $wall, $what;
    ' "$PID" "$DIR/spawn.log" "$1"
}

write_pools
echo "vhostfcgi-spawn, $N idle ondemand pools (php-cgi), $(nproc) CPUs, $(uname -r)"
# The parent parses and binds, then forks the daemon and waits for it:
# its CPU time (getrusage) is the startup work a loaded machine does not
# distort; the wall time includes the daemon getting ready.
startup=$(perl -MTime::HiRes=time -e '
    my $t0 = time;
    system(@ARGV) == 0 or exit 1;
    my ($u, $s, $cu, $cs) = times;
    printf "%d %d", (time - $t0) * 1000, ($cu + $cs) * 1000;
' "$BIN" -c "$DIR/pools.conf" 2>"$DIR/start.err")
PID=$(cat "$DIR/spawn.pid")
sleep 1
printf '%-28s %5s ms wall, %s ms CPU\n' "startup (until daemon up):" \
    "${startup% *}" "$(( ${startup#* } + $(cpu_ms "$PID" | cut -d. -f1) ))"
printf '%-28s %5s kB\n' "RSS idle:" "$(rss_kb "$PID")"
printf '%-28s %5s\n' "workers:" "$(ps --ppid "$PID" --no-headers | wc -l)"
printf '%-28s %5s\n' "sockets bound:" "$(ls "$DIR/run" | grep -c '\.sock$')"
c0=$(cpu_ms "$PID"); sleep 5; c1=$(cpu_ms "$PID")
printf '%-28s %5s ms in 5 s\n' "CPU while idle:" "$(echo "$c1 - $c0" | bc)"

c0=$(cpu_ms "$PID")
reload "nothing changed"
printf '%-28s %5s ms\n' "  its CPU:" "$(echo "$(cpu_ms "$PID") - $c0" | bc)"
write_pools "$(printf '[added]\ntemplate = site\n')" 7
sed -i 's/^\[s3\]$/[s3]\npm.max_children = 6/' "$DIR/pools.conf"
c0=$(cpu_ms "$PID")
reload "1 added/changed/removed"
printf '%-28s %5s ms\n' "  its CPU:" "$(echo "$(cpu_ms "$PID") - $c0" | bc)"
printf '%-28s %5s kB\n' "RSS after reloads:" "$(rss_kb "$PID")"
printf '%-28s %5s\n' "workers:" "$(ps --ppid "$PID" --no-headers | wc -l)"

# Cold starts: the first request to 20 idle ondemand pools, one each
# (php-cgi started on demand, then the request), one at a time.
mkdir -p "$DIR/www" && chmod 755 "$DIR" "$DIR/www"
echo '<?php echo "hello";' > "$DIR/www/hello.php" && chmod 644 "$DIR/www/hello.php"
perl -I"$ROOT/t/spawner/lib" -MVFSpawn -MTime::HiRes=time -e '
    my ($dir) = @ARGV;
    my (@ms, $fail);
    for my $i (11 .. 30) {
        my $t0 = time;
        my $r = fcgi_request("$dir/run/s$i.sock", "$dir/www/hello.php");
        $fail++ unless $r->{ok} && $r->{body} eq "hello";
        push @ms, (time - $t0) * 1000;
    }
    @ms = sort { $a <=> $b } @ms;
    printf "%-28s %5.1f ms median, %.1f ms max (20 pools, %d failed)\n",
           "cold first request:", ($ms[9] + $ms[10]) / 2, $ms[-1], $fail // 0;
' "$DIR"
printf '%-28s %5s kB\n' "RSS with 20 workers:" "$(rss_kb "$PID")"
# The floor under a cold start: php-cgi's own start-up, as configured.
perl -MTime::HiRes=time -e '
    my @ms;
    for (1 .. 10) {
        my $t0 = time;
        system("/usr/bin/php-cgi8.2 -v >/dev/null 2>&1");
        push @ms, (time - $t0) * 1000;
    }
    @ms = sort { $a <=> $b } @ms;
    printf "%-28s %5.1f ms median (php-cgi8.2 -v, for comparison)\n",
           "php-cgi start-up alone:", ($ms[4] + $ms[5]) / 2;
'
printf '%-28s %5s\n' "warnings logged at start:" "$(grep -c WARNING "$DIR/start.err" || true)"
t0=$(now_ms)
kill -TERM "$PID"
# Not our child: poll until it is gone or a zombie nobody reaped yet.
while [ -e "/proc/$PID" ] && ! grep -q '^State:.*Z' "/proc/$PID/status" 2>/dev/null; do
    sleep 0.005
done
printf '%-28s %5s ms\n' "stop:" $(($(now_ms) - t0))
PID=
