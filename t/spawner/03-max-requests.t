#!/usr/bin/perl
# pm.max_requests: php-cgi exits by itself after that many requests
# (PHP_FCGI_MAX_REQUESTS, set by the spawner) and the spawner replaces it.
# Under concurrent load no request fails: the listening socket belongs to
# the spawner, so connections wait in its backlog while a worker is
# replaced.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();

ensure_user($_) for qw(vf-alice vf-bob);
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/pid.php", <<'PHP');
<?php usleep(10000); echo "pid=", getmypid(), " max=", getenv('PHP_FCGI_MAX_REQUESTS'), " children=", getenv('PHP_FCGI_CHILDREN'), "\n";
PHP

my $conf = write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $dir/run

[st]
command = /usr/bin/php-cgi8.2
user = vf-alice
pm = static
pm.max_children = 3
pm.max_requests = 5
env[VF_TEST_POOL] = \$pool

[od]
command = /usr/bin/php-cgi8.2
user = vf-bob
pm = ondemand
pm.max_children = 4
pm.max_requests = 7
env[VF_TEST_POOL] = \$pool
EOC

my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));

my $r = fcgi_request("$dir/run/st.sock", "$dir/www/pid.php");
like($r->{body}, qr/max=5 children=0/,
     'workers get PHP_FCGI_MAX_REQUESTS=pm.max_requests, PHP_FCGI_CHILDREN=0');

my @loads = map {
    load_start(dir => $dir, name => $_, addr => "$dir/run/$_.sock",
               script => "$dir/www/pid.php", procs => 6,
               expect => qr/^pid=\d+/)
} qw(st od);
sleep 4;
my ($st, $od) = map { load_stop($_) } @loads;

cmp_ok($st->{ok}, '>', 60, "static: $st->{ok} requests served");
is($st->{fail}, 0, 'static: zero failed requests')
    or diag join("\n", @{ $st->{errors} });
cmp_ok($od->{ok}, '>', 60, "ondemand: $od->{ok} requests served");
is($od->{fail}, 0, 'ondemand: zero failed requests')
    or diag join("\n", @{ $od->{errors} });

my $status = spawner_status($conf);
my ($rs, $ro) = map { status_row($status, $_) } qw(st od);
# Each worker serves at most max_requests, so N requests need at least
# N / max_requests workers over time.
cmp_ok($rs->{recycled}, '>=', int(($st->{ok} + 1) / 5) - 3,
       "static: workers recycled ($rs->{recycled})") or diag $status;
cmp_ok($ro->{recycled}, '>=', int($od->{ok} / 7) - 4,
       "ondemand: workers recycled ($ro->{recycled})") or diag $status;
is($rs->{crashed} + $ro->{crashed}, 0, 'no worker counted as crashed');
is($rs->{workers}, 3, 'static: back to exactly 3 workers');
ok($ro->{workers} <= 4, 'ondemand: never above max_children');

is(stop_spawner($s), 0, 'graceful stop');
unlike(log_text($s), qr/ERROR|WARNING|crash/, 'nothing alarming logged')
    or diag log_text($s);
done_testing();
