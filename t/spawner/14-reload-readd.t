#!/usr/bin/perl
# A pool removed by a reload while a request still runs on it (its worker
# drains), then added back by the next reload: the added pool binds a
# socket of its own, so its socket file exists again at once and serves,
# both while the old copy still drains and after it is gone (the old
# copy, once drained, leaves the new file alone).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();

ensure_user('vf-alice');
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/slow.php", "<?php sleep(3); echo \"slow done\\n\";\n");
write_file("$dir/www/fast.php", "<?php echo 'fast ', getmypid(), \"\\n\";\n");

sub pools_file {
    my ($with_r) = @_;
    my $text = <<EOC;
[global]
run_dir = $dir/run
log_level = info

[t]
istemplate = 1
command = /usr/bin/php-cgi8.2
user = vf-alice
env[VF_TEST_POOL] = \$pool

[keep]
template = t
pm = static
pm.max_children = 1
EOC
    $text .= "\n[r]\ntemplate = t\npm = ondemand\n" if $with_r;
    return write_file("$dir/pools.conf", $text);
}

my $sock = "$dir/run/r.sock";
my $conf = pools_file(1);
my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));

# A request in flight on r.
my $slow = fork // die;
if ($slow == 0) {
    my $r = fcgi_request($sock, "$dir/www/slow.php");
    POSIX::_exit($r->{ok} && $r->{body} =~ /slow done/ ? 0 : 3);
}
ok(wait_for(sub { pool_workers($s, 'r') == 1 }, 5), 'r busy with a slow request');
my ($old_worker) = pool_workers($s, 'r');
sleep 0.2;

my $nreload = 0;
sub reload {
    my ($want) = @_;
    $nreload++;
    kill 'HUP', $s->{pid};
    return wait_for(sub {
        my @r = log_text($s) =~ /(reloaded in \d+ ms: .*)/g;
        @r >= $nreload && $r[$nreload - 1] =~ $want;
    }, 5);
}

pools_file(0);
ok(reload(qr/1 removed/), 'reload 1: r removed');
ok(!-e $sock, "r's socket file is gone");
ok(kill(0, $old_worker), "r's busy worker drains");

pools_file(1);
ok(reload(qr/1 pool\(s\) added/), 'reload 2: r added back');
ok(-S $sock, "r's socket file exists again at once") or diag log_text($s);
is(waitpid($slow, WNOHANG), 0, '... while the old copy still drains its request');
my $r = fcgi_request($sock, "$dir/www/fast.php", timeout => 5);
ok($r->{ok} && $r->{body} =~ /^fast (\d+)/ && $1 != $old_worker,
   'r serves (a new worker) while the old copy still drains')
    or diag($r->{error} // $r->{body});

waitpid($slow, 0);
is($? >> 8, 0, "the old copy's in-flight request completed");
ok(wait_for(sub { !kill(0, $old_worker) }, 5), 'the old copy is gone');
sleep 0.3;
ok(-S $sock, "r's socket file is still there after the old copy went")
    or diag log_text($s);
$r = fcgi_request($sock, "$dir/www/fast.php", timeout => 5);
ok($r->{ok} && $r->{body} =~ /^fast \d+/, 'r serves after the old copy went')
    or diag($r->{error} // $r->{body});
my $row = status_row(scalar spawner_status($conf), 'r');
is($row && $row->{state}, 'running', '-s: r running');

is(stop_spawner($s), 0, 'graceful stop');
ok(!-e $sock, 'socket removed at stop');
done_testing();
