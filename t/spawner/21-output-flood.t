#!/usr/bin/perl
# catch_workers_output is the tenant's: a script that writes to stderr as
# fast as the pipe takes it must not stall the spawner (one event loop
# for every pool) nor flood its log.  While such a worker floods, -s
# answers and another pool serves; the log keeps at most 50 lines a second
# of that worker and says how many it left out; control bytes in a line
# are escaped.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ();
use VFSpawn;

skip_unless_ready();

ensure_user('vf-alice');
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/flood.php",
           "<?php \$e = fopen('php://stderr', 'w'); \$s = str_repeat(\"AAAA\\n\", 16384);\n"
         . "for (;;) fwrite(\$e, \$s);\n");
write_file("$dir/www/ctl.php",
           "<?php fwrite(fopen('php://stderr', 'w'), \"bell\\x07 esc\\x1b[31m nul\\x00 end\\n\"); echo 'ok';\n");
write_file("$dir/www/quick.php", "<?php echo 'quick';\n");

my $conf = php_pools_conf($dir,
    flood => [pm => 'static', 'pm.max_children' => 1,
              request_terminate_timeout => '4s'],
    calm  => [pm => 'static', 'pm.max_children' => 1]);

my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
ok(wait_for(sub { pool_workers($s, 'flood') == 1 && pool_workers($s, 'calm') == 1 }, 5),
   'one worker per pool');

my $t0 = time;
my $kid = fork // die "fork: $!";
if (!$kid) {
    fcgi_request("$dir/run/flood.sock", "$dir/www/flood.php", timeout => 10);
    POSIX::_exit(0);
}
sleep 1;
my $t = time;
my ($out, $rc) = spawner_status_within($conf, 3);
ok(defined $out && $rc == 0 && $out =~ /^flood\s/m,
   sprintf('-s answers while a worker floods (%.2f s)', time - $t)) or diag($out // 'no answer');
$t = time;
my $r = fcgi_request("$dir/run/calm.sock", "$dir/www/quick.php", timeout => 3);
ok($r->{ok} && $r->{stdout} =~ /quick/,
   sprintf('another pool serves meanwhile (%.2f s)', time - $t));
waitpid $kid, 0;
my $flood_s = time - $t0;

ok(wait_for(sub { log_text($s) =~ /\[pool flood\] worker \d+: \d+ more lines of output not logged \(over 50 a second\)/ }, 5),
   'the log says how many lines it left out');
my $said = () = log_text($s) =~ /\[pool flood\] worker \d+ said: AAAA/g;
ok($said > 0 && $said <= 50 * ($flood_s + 2),
   sprintf('%d flood lines logged in %.1f s (at most 50 a second)', $said, $flood_s));

$r = fcgi_request("$dir/run/flood.sock", "$dir/www/ctl.php", timeout => 5);
ok($r->{ok}, 'the flooding pool serves again');
ok(wait_for(sub { log_text($s) =~ /said: bell\\x07 esc\\x1b\[31m nul\\x00 end$/m }, 3),
   'control bytes in a line are escaped in the log')
    or diag(join "\n", grep { /bell/ } split /\n/, log_text($s));

is(stop_spawner($s), 0, 'graceful stop');
done_testing();

# -s, given up after $secs (a stalled spawner never answers).
sub spawner_status_within {
    my ($conf, $secs) = @_;
    my $out = `timeout $secs '${\ spawn_bin()}' -c '$conf' -s 2>&1`;
    return ($? >> 8) == 124 ? (undef, 124) : ($out, $? >> 8);
}
