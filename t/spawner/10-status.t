#!/usr/bin/perl
# -s: the live status of every pool - pm, state, workers idle and busy,
# the queue of waiting connections (sock_diag, Unix and TCP), counters
# and limits - read from the running daemon over its root-only socket.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();

ensure_user($_) for qw(vf-alice vf-bob);
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/slow.php", "<?php sleep(2); echo 'slow';\n");
write_file("$dir/www/ok.php", "<?php echo 'ok';\n");
my $port = do {
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die;
    $l->sockport;
};

my $conf = write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $dir/run
process.max = 20

[st]
command = /usr/bin/php-cgi8.2
user = vf-alice
pm = static
pm.max_children = 2
pm.max_requests = 100
env[VF_TEST_POOL] = \$pool

[od]
command = /usr/bin/php-cgi8.2
user = vf-bob
pm = ondemand
pm.max_children = 2
pm.process_idle_timeout = 30s
env[VF_TEST_POOL] = \$pool

[dyn]
command = /usr/bin/php-cgi8.2
user = vf-bob
pm = dynamic
pm.max_children = 4
pm.start_servers = 2
pm.min_spare_servers = 1
pm.max_spare_servers = 3
request_terminate_timeout = 60s
env[VF_TEST_POOL] = \$pool

[tcp]
command = /usr/bin/php-cgi8.2
user = vf-alice
listen = 127.0.0.1:$port
pm = static
pm.max_children = 1
env[VF_TEST_POOL] = \$pool
EOC

my ($out, $rc) = spawner_status($conf);
is($rc, 1, '-s without a running daemon: exit 1');
like($out, qr/cannot reach the daemon at \Q$dir\E\/run\/vhostfcgi-spawn.ctl/, '... saying where it looked');

my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
ok(wait_for(sub {
        my $o = spawner_status($conf);
        my ($st, $dyn, $tcp) = map { status_row($o, $_) } qw(st dyn tcp);
        $st && $st->{idle} == 2 && $dyn->{idle} == 2 && $tcp->{idle} == 1;
    }, 10), 'workers up and idle in accept()');

($out, $rc) = spawner_status($conf);
is($rc, 0, '-s: exit 0');
like($out, qr/^vhostfcgi-spawn pid $s->{pid}, up \d+s, config \Q$conf\E$/m, 'header: pid, uptime, config');
like($out, qr/^pools 4, workers 5, process.max 20$/m, 'totals');
my %r = map { $_ => status_row($out, $_) } qw(st od dyn tcp);
is_deeply([@{ $r{st} }{qw(pm state workers idle busy queue spawned)}],
          ['static', 'running', 2, 2, 0, 0, 2], 'static idle: 2 workers, 2 idle');
like($r{st}{limits}, qr/^max_children=2 max_requests=100$/, 'static limits');
is_deeply([@{ $r{od} }{qw(pm workers idle busy queue spawned)}],
          ['ondemand', 0, 0, 0, 0, 0], 'ondemand idle: nothing');
like($r{od}{limits}, qr/idle_timeout=30000ms/, 'ondemand limits');
like($r{dyn}{limits}, qr/^max_children=4 spare=1..3 terminate=60000ms$/, 'dynamic limits');
is($r{tcp}{queue}, 0, 'TCP pool: queue depth known (inet_diag)');

# --- busy: more slow requests than workers ---------------------------------
my $kid = fork // die;
if ($kid == 0) {
    parallel_requests((map { ["$dir/run/st.sock", "$dir/www/slow.php"] } 1 .. 3),
                      (map { ["$dir/run/od.sock", "$dir/www/slow.php"] } 1 .. 4),
                      (map { ["127.0.0.1:$port", "$dir/www/slow.php"] } 1 .. 3));
    POSIX::_exit(0);
}
my $busy = wait_for(sub {
    my $o = spawner_status($conf);
    my %b = map { $_ => status_row($o, $_) } qw(st od tcp);
    ($b{st}{busy} == 2 && $b{st}{queue} == 1 && $b{od}{busy} == 2
        && $b{od}{queue} == 2 && $b{tcp}{busy} == 1 && $b{tcp}{queue} == 2) ? $o : '';
}, 4, 0.1);
ok($busy, 'busy: static 2 busy + 1 queued, ondemand 2 busy (its max) + 2 queued, TCP 1 busy + 2 queued')
    or diag scalar spawner_status($conf);
%r = map { $_ => status_row($busy || '', $_) } qw(od);
is($r{od}{workers}, 2, 'ondemand started exactly max_children') if $busy;
waitpid($kid, 0);

($out) = spawner_status($conf);
%r = map { $_ => status_row($out, $_) } qw(st od);
is($r{od}{spawned}, 2, 'ondemand: 2 spawned in all');
is($r{od}{idle}, 2, 'ondemand: both idle afterwards');
is($r{st}{crashed} + $r{od}{crashed}, 0, 'no crash');

# --- root only -----------------------------------------------------------------
my $as_alice = `runuser -u vf-alice -- '${\ spawn_bin()}' -c '$conf' -s 2>&1`;
isnt($? >> 8, 0, '-s as another user fails');
like($as_alice, qr/Permission denied|permission denied/, '... permission denied');

is(stop_spawner($s), 0, 'graceful stop');
done_testing();
