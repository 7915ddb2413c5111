#!/usr/bin/perl
# kill -9 of a busy worker: its request fails (the client sees the
# connection closed without FCGI_END_REQUEST; httpd answers 502), the pool
# gets a new worker, and every other request - same pool, other pool -
# is served.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();

ensure_user($_) for qw(vf-alice vf-bob);
my $dir = test_dir();
mkdir "$dir/www";
mkdir "$dir/spool";
chmod 0755, "$dir/www";
chmod 01777, "$dir/spool";
write_file("$dir/www/slow.php", <<"PHP");
<?php file_put_contents('$dir/spool/slow.pid', getmypid()); sleep(5); echo "slow done\\n";
PHP
write_file("$dir/www/fast.php", "<?php usleep(5000); echo 'fast ', getmypid();\n");

my $conf = write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $dir/run

[st]
command = /usr/bin/php-cgi8.2
user = vf-alice
pm = static
pm.max_children = 3
env[VF_TEST_POOL] = \$pool

[other]
command = /usr/bin/php-cgi8.2
user = vf-bob
pm = dynamic
pm.max_children = 3
pm.start_servers = 2
env[VF_TEST_POOL] = \$pool
EOC

my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
ok(wait_for(sub { pool_workers($s, 'st') == 3 }, 5), 'static pool: 3 workers');
my @before = pool_workers($s, 'st');

# The slow request, in a child; load on both pools meanwhile.
my $kid = fork // die;
if ($kid == 0) {
    my $r = fcgi_request("$dir/run/st.sock", "$dir/www/slow.php");
    POSIX::_exit($r->{ok} ? 0 : 3);
}
my @loads = map {
    load_start(dir => $dir, name => $_, addr => "$dir/run/$_.sock",
               script => "$dir/www/fast.php", procs => 2, pause => 0.01,
               expect => qr/^fast \d+/)
} qw(st other);

ok(wait_for(sub { -s "$dir/spool/slow.pid" }, 5), 'slow request running');
my $victim = do { local @ARGV = ("$dir/spool/slow.pid"); <> };
ok((grep { $_ == $victim } @before), "it runs in worker $victim of the pool");
sleep 0.3;
kill 'KILL', $victim;

waitpid($kid, 0);
is($? >> 8, 3, 'the killed request fails (no FCGI_END_REQUEST)');
ok(wait_for(sub {
        my @now = pool_workers($s, 'st');
        @now == 3 && !grep { $_ == $victim } @now;
    }, 5), 'the pool is back to 3 workers, with a new one');
my @after = pool_workers($s, 'st');
my @kept = grep { my $p = $_; grep { $_ == $p } @after } @before;
is(scalar @kept, 2, 'the two other workers were not touched');

sleep 0.5;
my ($st, $other) = map { load_stop($_) } @loads;
cmp_ok($st->{ok}, '>', 10, "same pool: $st->{ok} requests served");
is($st->{fail}, 0, 'same pool: none failed') or diag "@{ $st->{errors} }";
cmp_ok($other->{ok}, '>', 10, "other pool: $other->{ok} requests served");
is($other->{fail}, 0, 'other pool: none failed');

my $row = status_row(scalar spawner_status($conf), 'st');
is($row->{crashed}, 1, '-s counts one crash');
like(log_text($s), qr/\[pool st\] worker $victim killed by signal 9 \(SIGKILL\)/,
     'the crash is logged with pool, pid and signal');
unlike(log_text($s), qr/crash loop/, 'not taken for a crash loop');

is(stop_spawner($s), 0, 'graceful stop');
done_testing();
