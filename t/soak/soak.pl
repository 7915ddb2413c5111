#!/usr/bin/perl
# make soak: mixed load on two spawner pools behind httpd (mpm_event) while
# workers are killed at random and the spawner reloads; checks that no more
# requests fail than busy workers were killed, that nothing crashed, and
# that httpd's and the spawner's memory stay flat.  Bounded (default: 15 s
# warm-up + 180 s of load, about 3.5 minutes in all).
#
#   SOAK_SECONDS=180   seconds of load after the warm-up
#   SOAK_WARMUP=15     seconds of load before the first memory figures
#   SOAK_CLIENTS=16    concurrent keep-alive client connections
#   SOAK_SEED=N        random seed (printed; rerun with it to repeat a run)
#   SOAK_HTTPD_MB=20   allowed growth of httpd's RSS (parent + children)
#   SOAK_SPAWNER_MB=2  allowed growth of the spawner's RSS
#   SOAK_LAX=1         report failures no kill explains, but do not fail on them
#   SOAK_DEBUG=1       spawner log_level debug, httpd LogLevel vhostfcgi:debug
#   VF_KEEP=1          keep the temp dir (logs) after the run
#
# Two sites as two users: alice (pm = dynamic) and bob (pm = ondemand),
# pm.max_requests = 50 so workers recycle all the time, VhostFcgiPool NAME
# max=8 (of 10 workers) so that some workers wait in accept().  Requests,
# on 16 keep-alive connections: GET of a tiny script, GET of a script that
# does some work (an md5 chain the client checks), POST of 1 KB - 1 MB
# (log-uniform; 15% chunked) whose length and md5 the script echoes and
# the client checks; every answer must also come from the vhost's own pool.
#
# Faults, after the warm-up: every 1-5 s one worker older than 1.1 s (the
# spawner's crash-loop guard counts exits in the first second; it is not
# what is measured here) is stopped, classified by the syscall it sits in
# (accept: idle, unless a client's socket is open already; read: holding
# a connection, kept idle or reading a request; anything else: running a
# request), and killed with SIGKILL;
# every ~20 s the spawner gets SIGHUP with the other of two pools files
# (alice's settings differ, so her pool restarts; bob's are kept).
#
# Checks: every failure is a request that was in flight when a busy worker
# of its pool was killed, each kill accounting for at most one (and so
# failures <= busy kills); nothing crashed, the spawner and httpd's children
# are the same processes; no pool is left with busy or waiting connections;
# RSS growth from the end of the warm-up to the end is within bounds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::MD5 qw(md5_hex);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use VFSoak;

$| = 1;
my $SECONDS = $ENV{SOAK_SECONDS} // 180;
my $WARMUP  = $ENV{SOAK_WARMUP} // 15;
my $CLIENTS = $ENV{SOAK_CLIENTS} // 16;
my $SEED    = $ENV{SOAK_SEED} // (time ^ $$) % 1000000;
my $HTTPD_MB   = $ENV{SOAK_HTTPD_MB} // 20;
my $SPAWNER_MB = $ENV{SOAK_SPAWNER_MB} // 2;
my $REQ_TIMEOUT = 40;           # client side; httpd's Timeout is 20
my $WORK_ROUNDS = 50000;
my @POOLS = qw(alice bob);
my %HOST = (alice => 'alice.soak', bob => 'bob.soak');

die "soak: run as root (it creates users and runs pools as them)\n" if $>;
srand $SEED;
my $t_begin = time;
# The whole run is bounded: whatever happens, stop everything in time.
my $hard_limit = $WARMUP + $SECONDS + 90;
$SIG{ALRM} = sub { print "soak: over ${hard_limit}s, giving up\n"; exit 3 };
alarm $hard_limit;
$SIG{INT} = $SIG{TERM} = sub { print "soak: interrupted\n"; exit 4 };

ensure_user($_) for $VFSoak::WEB, @VFSoak::POOL_USERS;
my $dir = test_dir('vfsoak');
my $bins = snapshot_bins($dir);
mkdir "$dir/load";
for my $pool (@POOLS) {
    my $www = "$dir/sites/$pool";
    system('mkdir', '-p', $www) == 0 or die;
    chmod 0755, "$dir/sites", $www;
    write_file("$www/hello.php", <<'PHP');
<?php
header('Content-Type: text/plain');
echo "hello ", getenv('SOAK_POOL'), " ", $_GET['n'] ?? '', "\n";
PHP
    write_file("$www/work.php", <<PHP);
<?php
header('Content-Type: text/plain');
\$h = \$_GET['s'] ?? '';
for (\$i = 0; \$i < $WORK_ROUNDS; \$i++) { \$h = md5(\$h); }
echo getenv('SOAK_POOL'), " ", \$h, "\\n";
PHP
    write_file("$www/post.php", <<'PHP');
<?php
header('Content-Type: text/plain');
$in = file_get_contents('php://input');
echo getenv('SOAK_POOL'), " ", strlen($in), " ", md5($in), "\n";
PHP
}

# Two pools files; a reload alternates them.  alice's settings differ (a
# changed pool restarts on the same socket), bob's do not (kept as is).
sub pools_text {
    my ($gen) = @_;
    my ($min, $max, $mr) = $gen eq 'A' ? (3, 5, 50) : (2, 6, 40);
    return <<EOC;
; soak pools, generation $gen
[global]
run_dir   = $dir/run
error_log = $dir/logs/spawn.log
log_level = @{[ $ENV{SOAK_DEBUG} ? 'debug' : 'notice' ]}

[site]
istemplate   = 1
command      = /usr/bin/php-cgi8.2
listen.owner = $VFSoak::WEB
listen.group = $VFSoak::WEB
listen.mode  = 0660
pm.max_children = 10
env[SOAK_POOL] = \$pool

[alice]
template = site
user = vfsoak-a
pm = dynamic
pm.start_servers = 3
pm.min_spare_servers = $min
pm.max_spare_servers = $max
pm.max_requests = $mr
env[SOAK_GEN] = $gen

[bob]
template = site
user = vfsoak-b
pm = ondemand
pm.process_idle_timeout = 10s
pm.max_requests = 50
EOC
}
write_file("$dir/pools-A.conf", pools_text('A'));
write_file("$dir/pools-B.conf", pools_text('B'));

print "soak: seed $SEED, $CLIENTS clients, ${WARMUP}s warm-up + ${SECONDS}s, "
    . "dir $dir\n";
my $h = httpd_start(
    dir => $dir, bins => $bins, pools => pools_text('A'), spawner => 1,
    timeout => 20, loglevel => $ENV{SOAK_DEBUG} ? 'warn vhostfcgi:debug' : 'warn',
    # max=8 of pm.max_children = 10: httpd never holds every worker, so
    # some wait in accept() and idle workers can be killed too.
    vhosts => [ map { { name => $HOST{$_}, root => "$dir/sites/$_",
                        pool => "$_ max=8" } } @POOLS ],
);
my $spawner = spawner_of($h);
for my $pool (@POOLS) {
    my $c = VFSoak::Client->new(port => $h->{port}, timeout => 20);
    my $ok = wait_for(sub {
        my $r = $c->request(host => $HOST{$pool}, path => '/hello.php?n=0');
        ($r->{status} // 0) == 200 && $r->{body} eq "hello $pool 0\n";
    }, 20, 0.2);
    $c->close;
    die "soak: pool $pool does not answer\n" . read_file($h->{errlog})
        unless $ok;
}
print "soak: httpd $h->{pid} on port $h->{port}, spawner $spawner\n";

# ------------------------------------------------------------------
# The load: CLIENTS processes, one keep-alive connection each.
# ------------------------------------------------------------------
my %work_hash;
for my $s (0 .. 15) {
    my $x = "$s";
    $x = md5_hex($x) for 1 .. $WORK_ROUNDS;
    $work_hash{$s} = $x;
}

sub one_client {
    my ($n, $until) = @_;
    srand($SEED * 100 + $n);
    open my $rnd, '<', '/dev/urandom' or die;
    read($rnd, my $data, 2 << 20) == 2 << 20 or die;
    close $rnd;
    my $c = VFSoak::Client->new(port => $h->{port}, timeout => $REQ_TIMEOUT);
    my %st = (sent => 0, ok => 0, fail => 0);
    open my $out, '>', "$dir/load/$n.fail" or die;
    select((select($out), $| = 1)[0]);
    while (time < $until) {
        my $pool = $POOLS[rand 2];
        my $roll = rand;
        my ($type, %req, $expect);
        if ($roll < 0.4) {
            my $k = int rand 1e9;
            ($type, %req) = ('get', path => "/hello.php?n=$k");
            $expect = "hello $pool $k\n";
        }
        elsif ($roll < 0.6) {
            my $s = int rand 16;
            ($type, %req) = ('work', path => "/work.php?s=$s");
            $expect = "$pool $work_hash{$s}\n";
        }
        else {
            my $len = int exp(log(1024) + rand() * (log(1 << 20) - log(1024)));
            my $body = substr($data, int rand(length($data) - $len), $len);
            my $chunked = rand() < 0.15;
            ($type, %req) = ($chunked ? 'post-chunked' : 'post',
                             path => '/post.php', body => $body,
                             chunked => $chunked);
            $expect = "$pool $len " . md5_hex($body) . "\n";
        }
        my $t = time;
        my $r = $c->request(host => $HOST{$pool}, %req);
        $st{sent}++;
        $st{"sent_$type"}++;
        my $why;
        if (!$r->{complete}) {
            $why = $r->{error} // 'incomplete';
        }
        elsif ($r->{status} != 200) {
            my $first = (split /\n/, $r->{body})[0] // '';
            $why = "status $r->{status}";
        }
        elsif ($r->{body} ne $expect) {
            $why = 'wrong body: ' . substr($r->{body}, 0, 80);
            $why =~ s/\n/\\n/g;
        }
        if (defined $why) {
            $st{fail}++;
            printf $out "%.3f\t%.3f\t%s\t%s\t%s\t%s\t%d\n", $t, time,
                $pool, $type, $r->{status} // '-', $why, $r->{reused};
            $c->close;      # start clean after anything odd
        }
        else {
            $st{ok}++;
        }
    }
    $c->close;
    close $out;
    write_file("$dir/load/$n.sum",
               join('', map { "$_ $st{$_}\n" } sort keys %st));
}

my $t_load = time;
my $t_faults = $t_load + $WARMUP;
my $t_end = $t_faults + $SECONDS;
my @kids;
for my $n (1 .. $CLIENTS) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{ALRM} = $SIG{INT} = $SIG{TERM} = 'DEFAULT';
        alarm 0;
        eval { one_client($n, $t_end); 1 } or print "client $n: $@";
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
END {
    # Whatever happens, no client outlives the run.
    kill 'KILL', grep { kill 0, $_ } @kids if @kids;
}

# ------------------------------------------------------------------
# Faults and samples, from the parent.
# ------------------------------------------------------------------
my (@kills, @reloads, @samples, @notes);
my $gen = 'A';

sub sample {
    my ($label) = @_;
    my $sp = spawner_of($h);
    my $hr = httpd_rss($h);
    my $s = { t => time - $t_load, label => $label, httpd => $hr->{total},
              parent => $hr->{parent}, children => $hr->{children},
              nkids => $hr->{n}, kids => join(',', @{ $hr->{pids} }),
              spawner => $sp ? rss_kb($sp) : 0, spid => $sp // 0 };
    push @samples, $s;
    return $s;
}

# x86_64: 43 accept, 288 accept4, 0 read; "running" or -1 (stopped
# outside a syscall): running PHP code; anything else (write, poll, ...):
# serving a request too.
sub syscall_state {
    my ($sc) = @_;
    return 'gone' unless defined $sc;
    return $sc eq '43' || $sc eq '288' ? 'idle' : $sc eq '0' ? 'conn'
         : 'running';
}

# Whether a worker has a socket open besides its listening one (fd 0):
# a client's connection, accepted.
sub holds_connection {
    my ($pid) = @_;
    opendir my $dh, "/proc/$pid/fd" or return 0;
    for my $fd (grep { /^\d+$/ && $_ != 0 } readdir $dh) {
        return 1 if (readlink("/proc/$pid/fd/$fd") // '') =~ /^socket:/;
    }
    return 0;
}

# Kills a worker in state $want if there is one (or, with $any, any
# worker); returns whether it killed.
sub kill_one {
    my ($want, $any) = @_;
    my $sp = spawner_of($h) or return 0;
    my @cands;
    for my $pool (@POOLS) {
        push @cands, map { [$pool, $_] }
                     grep { (proc_comm($_) // '') =~ /^php-cgi/
                            && (proc_age($_) // 0) > 1.1 }
                     pool_workers($sp, $pool);
    }
    my @pref = grep { syscall_state(worker_syscall($_->[1])) eq $want }
               @cands;
    @pref = @cands if !@pref && $any;
    return 0 unless @pref;
    my ($pool, $pid) = @{ $pref[rand @pref] };
    # SIGSTOP first: the syscall read then is the one it was in when it
    # stopped, so the classification cannot race with an accept.
    kill 'STOP', $pid or return;
    wait_for(sub {
        (read_file("/proc/$pid/stat") =~ /\) ([TtXZ]) /) ? 1 : 0
    }, 1, 0.002);
    my $sc = worker_syscall($pid);
    my $held = holds_connection($pid);
    kill 'KILL', $pid;
    return unless defined $sc;          # it exited meanwhile: no kill
    my $state = syscall_state($sc);
    # A stop that lands as accept() returns still shows accept's number
    # (the registers keep it), with the client's socket already open.
    $state = 'conn' if $state eq 'idle' && $held;
    push @kills, { t => time, pid => $pid, pool => $pool, syscall => $sc,
                   state => $state, busy => $state ne 'idle' };
    return 1;
}

sub reload {
    my $sp = spawner_of($h) or return;
    $gen = $gen eq 'A' ? 'B' : 'A';
    write_file($h->{pools_file}, read_file("$dir/pools-$gen.conf"));
    kill 'HUP', $sp;
    push @reloads, { t => time, gen => $gen, spawner => $sp };
}

my $next_kill = $t_faults + 1 + rand 4;
my $next_reload = $t_faults + 20 + rand 2;
my $next_sample = $t_load;
my $next_report = $t_faults + 30;
my ($rss_start, $rss_end, $want, $want_since);
while (1) {
    my $now = time;
    if (!$rss_start && $now >= $t_faults) {
        $rss_start = sample('start');
        printf "soak: warm-up done: httpd RSS %.1f MB (%d children), "
             . "spawner RSS %.1f MB; faults begin\n", $rss_start->{httpd} / 1024,
             $rss_start->{nkids}, $rss_start->{spawner} / 1024;
        $next_sample = $now + 10;
    }
    if ($now >= $t_end - 0.5) {
        $rss_end = sample('end');
        last;
    }
    if ($rss_start && $now >= $next_kill) {
        # A third of the kills look for an idle worker (in accept), a
        # third for one in read() (holding a connection: kept idle, or
        # reading a request), a third for one running a script; each looks
        # for up to 3 s, then takes any worker.
        $want //= (qw(idle conn running))[rand 3];
        $want_since //= $now;
        if (kill_one($want, $now - $want_since > 3)) {
            $next_kill = $now + 1 + rand 4;
            $want = $want_since = undef;
        }
    }
    if ($rss_start && $now >= $next_reload) {
        reload();
        $next_reload = $now + 18 + rand 4;
    }
    if ($now >= $next_sample) {
        sample('');
        $next_sample = $now + 10;
    }
    if ($now >= $next_report) {
        my $st = status_json($h, $HOST{alice}) || {};
        printf "soak: %3ds: %d kills, %d reloads, requests alice %d bob %d\n",
            $now - $t_faults, scalar @kills, scalar @reloads,
            map { $st->{$_}{requests} // -1 } @POOLS;
        $next_report = $now + 30;
    }
    sleep 0.05;
}

# The clients stop by themselves at t_end (after their current request).
my $clients_done = wait_for(sub {
    @kids = grep { waitpid($_, WNOHANG) == 0 } @kids;
    !@kids;
}, $REQ_TIMEOUT + 5, 0.1);
kill 'KILL', @kids if @kids;
push @notes, scalar(@kids) . " clients had to be killed" if @kids;

# ------------------------------------------------------------------
# Figures.
# ------------------------------------------------------------------
my (%tot, @fails);
for my $n (1 .. $CLIENTS) {
    for (split /\n/, read_file("$dir/load/$n.sum")) {
        my ($k, $v) = split ' ';
        $tot{$k} += $v;
    }
    for (split /\n/, read_file("$dir/load/$n.fail")) {
        my %f;
        @f{qw(t0 t1 pool type status why reused)} = split /\t/;
        push @fails, \%f;
    }
    push @notes, "client $n wrote no summary" unless -e "$dir/load/$n.sum";
}
@fails = sort { $a->{t0} <=> $b->{t0} } @fails;
$tot{$_} //= 0 for qw(sent ok fail);

sleep 1;
my $status = status_json($h, $HOST{alice}) || {};
my $errlog = read_file($h->{errlog});
my $spawnlog = read_file("$dir/logs/spawn.log");
my $sig9 = () = $spawnlog =~ /killed by signal 9/g;
my @crash = crash_lines($errlog);
my $end_spawner = spawner_of($h) // 0;
my @end_kids = httpd_children($h);

my %kill_by;
$kill_by{$_->{state}}++ for @kills;
$kill_by{$_}//= 0 for qw(idle conn running);
my $busy_kills = $kill_by{conn} + $kill_by{running};
my %fail_by;
$fail_by{"$_->{status} $_->{why}"}++ for @fails;

printf "\n=== soak results (seed %d, %d clients, %ds warm-up + %ds faults, "
     . "%.0fs in all) ===\n", $SEED, $CLIENTS, $WARMUP, $SECONDS,
     time - $t_begin;
printf "requests sent:     %d  (get %d, work %d, post %d, post-chunked %d)\n",
    $tot{sent}, map { $tot{"sent_$_"} // 0 } qw(get work post post-chunked);
printf "answered OK:       %d  (status 200, body verified)\n", $tot{ok};
printf "failed:            %d\n", $tot{fail};
printf "    %5d  %s\n", $fail_by{$_}, $_
    for sort { $fail_by{$b} <=> $fail_by{$a} } keys %fail_by;
printf "workers killed:    %d  (busy %d: %d running a request, %d holding a "
     . "connection in read(); idle %d in accept())\n", scalar @kills,
     $busy_kills, $kill_by{running}, $kill_by{conn}, $kill_by{idle};
printf "    by pool: %s; the spawner logged %d kills by signal 9 (retiring "
     . "workers of a reloaded pool are not logged so)\n",
    join(', ', map { my $p = $_;
    "$p " . scalar(grep { $_->{pool} eq $p } @kills) } @POOLS), $sig9;
printf "spawner reloads:   %d  (SIGHUP, alternating two pools files)\n",
    scalar @reloads;
for my $p (@POOLS) {
    my $s = $status->{$p} or next;
    printf "pool %-5s status: requests %d, reused %d, retried %d, opened %d, "
         . "errors connect %d bad_gateway %d timeout %d broken %d; now "
         . "open %d idle %d busy %d queued %d\n", $p, @$s{qw(requests
         reused retried opened)}, @{ $s->{errors} }{qw(connect bad_gateway
         timeout broken)}, @$s{qw(open idle busy queued_at_backend)};
}
printf "RSS httpd (parent + %d children): %.1f MB -> %.1f MB (%+.1f MB; "
     . "parent %.1f -> %.1f, children %.1f -> %.1f)\n",
    $rss_end->{nkids}, $rss_start->{httpd} / 1024, $rss_end->{httpd} / 1024,
    ($rss_end->{httpd} - $rss_start->{httpd}) / 1024,
    map { $_ / 1024 } $rss_start->{parent}, $rss_end->{parent},
    $rss_start->{children}, $rss_end->{children};
printf "RSS spawner:       %.2f MB -> %.2f MB (%+.2f MB)\n",
    $rss_start->{spawner} / 1024, $rss_end->{spawner} / 1024,
    ($rss_end->{spawner} - $rss_start->{spawner}) / 1024;
print "RSS samples (s: httpd MB / spawner MB): ", join('  ', map {
    sprintf "%d: %.1f/%.2f", $_->{t}, $_->{httpd} / 1024,
    $_->{spawner} / 1024 } @samples), "\n";

# Each failure is matched to a busy worker of its pool killed while the
# request was in flight (each kill explains at most one failure); the rest
# are shown with the last reload of their pool before them.
my $SLACK = 0.05;
my $explained = 0;
for my $f (@fails) {
    my ($k) = grep { $_->{busy} && !$_->{used} && $_->{pool} eq $f->{pool}
                     && $_->{t} >= $f->{t0} - $SLACK
                     && $_->{t} <= $f->{t1} + $SLACK } @kills;
    if ($k) {
        $k->{used} = 1;
        $f->{cause} = sprintf 'in flight at kill of %s worker %d (%s) at %.2fs',
            $k->{pool}, $k->{pid}, $k->{state}, $k->{t} - $t_load;
        $explained++;
        next;
    }
    # Only alice's settings change on a reload: bob's pool is kept.
    my ($rl) = reverse grep { $_->{t} <= $f->{t1} } @reloads;
    $f->{cause} = 'UNEXPLAINED: no kill of a busy ' . $f->{pool}
        . ' worker during it';
    $f->{cause} .= sprintf(', reload %d (alice changed) at %.2fs',
                           scalar(grep { $_->{t} <= $rl->{t} } @reloads),
                           $rl->{t} - $t_load)
        if $rl && $f->{pool} eq 'alice' && $f->{t0} - $rl->{t} < 2;
    $f->{unexplained} = 1;
}
my $unexplained = grep { $_->{unexplained} } @fails;
my $after_reload = grep { $_->{unexplained} && $_->{pool} eq 'alice' && do {
    my $f = $_;
    grep { $_->{t} <= $f->{t1} && $f->{t0} - $_->{t} < 2 } @reloads } } @fails;
if (@fails) {
    printf "failures: %d in flight at a busy worker killed, %d unexplained "
         . "(%d of them within 2 s after a reload that changed their pool)
",
         $explained, $unexplained, $after_reload;
    my $shown = 0;
    for my $f (@fails) {
        last if ++$shown > 40;
        printf "    %7.2fs %-5s %-12s %-3s %s | %s\n", $f->{t0} - $t_load,
            $f->{pool}, $f->{type}, $f->{status}, $f->{why}, $f->{cause};
    }
}

# ------------------------------------------------------------------
# Checks.
# ------------------------------------------------------------------
my @checks;
sub check { my ($ok, $what) = @_; push @checks, [$ok ? 1 : 0, $what] }

check($tot{sent} > 0 && $tot{sent} == $tot{ok} + $tot{fail},
      "every request counted: sent $tot{sent} = ok $tot{ok} + failed "
      . "$tot{fail}");
check($tot{fail} <= $busy_kills,
      "failures ($tot{fail}) <= busy workers killed ($busy_kills)");
check(!$unexplained || $ENV{SOAK_LAX},
      "every failure was in flight at a busy worker of its pool killed "
      . "($unexplained unexplained" . ($ENV{SOAK_LAX} ? ', SOAK_LAX: not '
      . 'counted' : '') . ")");
check($tot{ok} >= 100 * ($SECONDS + $WARMUP) / 60,
      "load got through: $tot{ok} requests answered");
check(@kills >= $SECONDS / 10 && $kill_by{idle} > 0 && $busy_kills > 0,
      "workers were killed, idle and busy ($kill_by{idle} idle, $busy_kills "
      . "busy)");
check(@reloads >= int($SECONDS / 25),
      scalar(@reloads) . " reloads sent");
my $reloaded = () = $spawnlog =~ /reloaded in/g;
check($reloaded == @reloads,
      "the spawner logged $reloaded of " . scalar(@reloads) . " reloads done");
my @rfail = $spawnlog =~ /(reload failed.*)/g;
check(!@rfail, 'no reload refused' . (@rfail ? ": $rfail[0]" : ''));
check(!@crash, 'no httpd child crashed (no "exit signal" in the error log)'
      . (@crash ? ": $crash[0]" : ''));
check($end_spawner && $end_spawner == $spawner,
      "the spawner kept running (pid $spawner" . ($end_spawner != $spawner
      ? ", now $end_spawner" : '') . ")");
check(join(',', @end_kids) eq $rss_start->{kids},
      "httpd's children are the same processes (@end_kids)");
my @stuck = grep { my $s = $status->{$_};
                   !$s || $s->{busy} || $s->{waiting} || $s->{queued_at_backend}
                   || $s->{inflight}
                   || $s->{open} > $s->{max_conns} } @POOLS;
check(!@stuck, 'after the load, no pool has busy/waiting/in-flight '
      . 'requests or more connections than max' . (@stuck ? ": @stuck" : ''));
check(($rss_end->{httpd} - $rss_start->{httpd}) <= $HTTPD_MB * 1024,
      sprintf("httpd RSS growth %+.1f MB <= %d MB",
              ($rss_end->{httpd} - $rss_start->{httpd}) / 1024, $HTTPD_MB));
check(($rss_end->{spawner} - $rss_start->{spawner}) <= $SPAWNER_MB * 1024,
      sprintf("spawner RSS growth %+.2f MB <= %d MB",
              ($rss_end->{spawner} - $rss_start->{spawner}) / 1024,
              $SPAWNER_MB));
check(!@notes, 'clients ended normally' . (@notes ? ": @notes" : ''));

print "checks:\n";
printf "    %s  %s\n", $_->[0] ? 'ok  ' : 'FAIL', $_->[1] for @checks;
my $failed = grep { !$_->[0] } @checks;

# Error-log lines by message (timestamps and pids stripped), for the record.
my %elines;
for (split /\n/, $errlog) {
    next unless /\[(\w+:)?(error|crit|alert|emerg|warn)\]/;
    (my $k = $_) =~ s/^\[[^\]]*\] //;
    $k =~ s/\[pid \d+:tid \d+\] //;
    $k =~ s/\[client [^\]]*\] //;
    $k =~ s/\d+/N/g;
    $elines{substr($k, 0, 160)}++;
}
if (%elines) {
    print "error log (warn and above), by message:\n";
    my @top = sort { $elines{$b} <=> $elines{$a} } keys %elines;
    splice @top, 15 if @top > 15;
    printf "    %5d  %s\n", $elines{$_}, $_ for @top;
}

httpd_stop($h);
alarm 0;
if ($failed) {
    # Keep the logs for a look (the temp dir goes unless VF_KEEP=1).
    system('cp', '-r', "$dir/logs", "/tmp/vfsoak-failed-logs.$$");
    print "soak: FAILED ($failed check(s)); logs in "
        . "/tmp/vfsoak-failed-logs.$$\n";
    exit 1;
}
print "soak: PASS\n";
exit 0;
