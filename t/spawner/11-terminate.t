#!/usr/bin/perl
# request_terminate_timeout: a worker busy longer than that gets SIGKILL
# (logged, counted), its request fails, the pool recovers.  A worker that
# merely holds a kept-alive connection, or serves short requests back to
# back for longer than the timeout, is left alone.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();

ensure_user('vf-alice');
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/hang.php", "<?php sleep(10); echo 'late';\n");
write_file("$dir/www/spin.php", "<?php \$t = microtime(true); while (microtime(true) - \$t < 10) {} echo 'late';\n");
write_file("$dir/www/quick.php", "<?php usleep(20000); echo 'quick ', getmypid();\n");

my $conf = write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $dir/run

[p]
command = /usr/bin/php-cgi8.2
user = vf-alice
pm = static
pm.max_children = 2
request_terminate_timeout = 1s
env[VF_TEST_POOL] = \$pool
EOC

my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
ok(wait_for(sub { pool_workers($s, 'p') == 2 }, 5), '2 workers');
my $sock = "$dir/run/p.sock";

for my $script (qw(hang spin)) {
    my $t0 = time;
    my $r = fcgi_request($sock, "$dir/www/$script.php", timeout => 8);
    my $took = time - $t0;
    ok(!$r->{ok}, "$script: the request over the timeout fails");
    ok($took >= 1 && $took < 3, sprintf("$script: ... after %.1f s (timeout 1 s)", $took));
}
like(log_text($s), qr/WARNING: \[pool p\] worker \d+ busy for \d+ ms, over request_terminate_timeout \(1000 ms\): SIGKILL/,
     'the kill is logged');
ok(wait_for(sub { pool_workers($s, 'p') == 2 }, 5), 'the pool is back to 2 workers');
my $row = status_row(scalar spawner_status($conf), 'p');
is($row->{killed}, 2, '-s: 2 killed');
is($row->{crashed}, 0, '... not counted as crashes');

# Kept-alive and idle for 2.5 s, then short requests back to back on the
# same connection for 2.5 s: never killed.
my $k = fcgi_request($sock, "$dir/www/quick.php", keep => 1);
ok($k->{ok}, 'a kept-alive connection');
my ($pid) = $k->{body} =~ /(\d+)/;
sleep 2.5;
my ($n, $ok, $c) = (0, 0, $k->{sock});
my $end = time + 2.5;
while (time < $end) {
    my $r = fcgi_request($sock, "$dir/www/quick.php", keep => 1, sock => $c);
    $n++;
    last unless $r->{ok};
    $ok++;
    $c = $r->{sock};
}
is($ok, $n, "$ok requests on the kept connection, all served");
ok(kill(0, $pid), "the worker holding it ($pid) is alive");
close $c if $c;
$row = status_row(scalar spawner_status($conf), 'p');
is($row->{killed}, 2, 'nothing else killed');

is(stop_spawner($s), 0, 'graceful stop');
done_testing();
