#!/usr/bin/perl
# A SIGHUP while the spawner is still starting: a stale status socket (a
# previous spawner died) and a live listener on a pool's socket path (its
# orphaned workers) make it wait up to 5 s for them to let go; a HUP then
# (httpd restarted it, then got `apachectl graceful`) neither kills it nor
# gets lost: it finishes starting, serves, and reloads once up.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::UNIX;
use POSIX qw(:sys_wait_h);
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();

ensure_user('vf-alice');
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/fast.php", "<?php echo \"fast\\n\";\n");
my $run = "$dir/run";
mkdir $run;
my $conf = write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $run
log_level = info

[p]
command = /usr/bin/php-cgi8.2
user = vf-alice
pm = ondemand
env[VF_TEST_POOL] = \$pool
EOC
my $log = "$dir/spawner.log";

# What a SIGKILLed spawner leaves: its status socket, stale ...
my $ctl = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "$run/vhostfcgi-spawn.ctl",
                                Listen => 1) or die "ctl: $!";
close $ctl;
# ... and its workers, still listening on the pool's socket.
my $orphan = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "$run/p.sock",
                                   Listen => 5) or die "p.sock: $!";

# The orphans' stand-in: once the spawner says it waits for them, a HUP
# to it, then they let go (their listener closes).
my $helper = fork // die;
if ($helper == 0) {
    my $ppid = getppid();
    my $spawner = wait_for(sub {
        open my $fh, '<', $log or return 0;
        my $text = do { local $/; <$fh> };
        return 0 unless $text =~ /waiting up to \d+ ms for the workers of a previous spawner/;
        for my $p (children_of($ppid)) {
            open my $c, '<', "/proc/$p/cmdline" or next;
            my $cmd = do { local $/; <$c> } // '';
            return $p if $p != $$ && $cmd =~ /\Q$conf\E/;
        }
        return 0;
    }, 8);
    my $sent = $spawner ? kill('HUP', $spawner) : 0;
    sleep 0.3;
    close $orphan;
    POSIX::_exit($sent ? 0 : 1);
}
close $orphan;

my $t0 = time;
my $s = start_spawner(conf => $conf, dir => $dir, log => $log);
waitpid($helper, 0);
is($?, 0, 'a SIGHUP was sent while the spawner waited for the orphans')
    or diag log_text($s);
ok($s->{ready} && !$s->{exited}, 'the spawner survived it and finished starting')
    or diag(($s->{exited} ? sprintf("exited: status %d, signal %d\n",
                                    $s->{status} >> 8, $s->{status} & 127) : '')
            . log_text($s));
cmp_ok(time - $t0, '<', 5, '... without waiting the full 5 s');
SKIP: {
    skip 'the spawner is gone', 4 unless $s->{ready} && !$s->{exited};
    like(log_text($s), qr/removed stale socket \Q$run\E\/p\.sock/,
         "the orphans' socket was taken over");
    ok(wait_for(sub { log_text($s) =~ /reloaded in \d+ ms: .*1 unchanged/ }, 5),
       'the HUP is not lost: a reload once up') or diag log_text($s);
    my $r = fcgi_request("$run/p.sock", "$dir/www/fast.php", timeout => 5);
    ok($r->{ok} && $r->{body} =~ /^fast/, 'the pool serves')
        or diag($r->{error} // $r->{body});
    is(stop_spawner($s), 0, 'graceful stop');
}
done_testing();
