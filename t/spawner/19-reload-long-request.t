#!/usr/bin/perl
# A reload never cuts off a request: a pool replaced by a reload while a
# request runs longer than the stop grace period (30 s, then 5 s to
# SIGKILL) and no request_terminate_timeout: its worker is neither
# SIGTERMed nor SIGKILLed, and the new workers serve meanwhile.  A
# graceful stop of the daemon 36 s after that reload gives the request its
# own grace period from the stop (it was SIGKILLed at once when the clock
# ran from the reload): the request completes, then the daemon exits 0.
#
# Slow (about 42 s: the grace periods are compiled in), so it runs only
# with VF_SLOW_TESTS=1.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();
plan skip_all => 'slow (about 42 s): set VF_SLOW_TESTS=1 to run it'
    unless $ENV{VF_SLOW_TESTS};

# Past the SIGKILL of the old code (reload + 30 s + 5 s), and past the
# daemon's stop at 36 s.
my $secs = 40;

ensure_user('vf-alice');
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
# Sleeps $secs in all, whatever signal interrupts it, and counts the
# interruptions (php-cgi's SIGTERM handler interrupts sleep()).
write_file("$dir/www/long.php", <<PHP);
<?php \$t = microtime(true); \$end = \$t + $secs; \$n = 0;
while ((\$left = \$end - microtime(true)) > 0) {
    if (sleep((int)ceil(\$left)) != 0) \$n++;
}
printf("slept %.1fs interrupted=%d\\n", microtime(true) - \$t, \$n);
PHP
write_file("$dir/www/v.php", "<?php echo 'v=', getenv('VERSION'), ' pid=', getmypid(), \"\\n\";\n");

sub pools_file {
    my ($version) = @_;
    return write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $dir/run
log_level = debug

[p]
command = /usr/bin/php-cgi8.2
user = vf-alice
pm = static
pm.max_children = 2
env[VF_TEST_POOL] = \$pool
env[VERSION] = $version
EOC
}

my $sock = "$dir/run/p.sock";
my $conf = pools_file(1);
my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
ok(wait_for(sub { pool_workers($s, 'p') == 2 }, 5), '2 workers');
my @old = pool_workers($s, 'p');

my $res = "$dir/long.out";
my $t0 = time;
my $kid = fork // die;
if ($kid == 0) {
    my $r = fcgi_request($sock, "$dir/www/long.php", timeout => $secs + 30);
    open my $fh, '>', $res;
    print $fh $r->{ok} ? "ok $r->{body}" : "ERROR $r->{error}";
    close $fh;
    POSIX::_exit(0);
}
sleep 0.5;

pools_file(2);
kill 'HUP', $s->{pid};
ok(wait_for(sub { log_text($s) =~ /reloaded in \d+ ms: 0 pool\(s\) added, 1 changed/ }, 5),
   'reload: p changed, its old workers drain') or diag log_text($s);
ok(wait_for(sub {
        fcgi_request($sock, "$dir/www/v.php", timeout => 5)->{body} =~ /^v=2 /
    }, 5), 'the new workers serve');
my @busy = grep { kill 0, $_ } @old;
is(scalar @busy, 1, 'one old worker left: the busy one');


sleep 0.1 while time < $t0 + 36;
kill 'TERM', $s->{pid};
waitpid($kid, 0);
my $took = time - $t0;
my $out = do { local (@ARGV, $/) = ($res); <> } // '';
like($out, qr/^ok slept 4\d\.\d+s interrupted=0$/,
     "the ${secs} s request completed, its sleep never interrupted")
    or diag $out;
cmp_ok($took, '>=', $secs, "... after $secs s (took " . sprintf('%.1f', $took) . ' s)');
ok(wait_for(sub { waitpid($s->{pid}, WNOHANG) == $s->{pid} }, 10),
   'then the daemon exits');
$s->{exited} = 1;
is($? >> 8, 0, '... with status 0');
unlike(log_text($s), qr/grace period over|into the stop: SIGKILL/,
       'no SIGTERM for the grace period, no SIGKILL logged');
done_testing();
