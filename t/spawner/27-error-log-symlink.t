#!/usr/bin/perl
# The spawner (root) appends to its error_log, and its lines carry what
# workers print.  A symlink a tenant plants where the log goes - at start,
# or after log rotation moved the file away and before SIGUSR1 reopens it -
# is not followed: the file it points to stays as it was, and the spawner
# says why (at start it does not start; at a reopen it keeps writing to
# the old file).  Root's own symlinks in root's directories, such as
# /dev/stderr, are followed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use VFSpawn;

skip_unless_ready();

ensure_user('vf-alice');
my ($ua, $ga) = (uid_of('vf-alice'), gid_of('vf-alice'));
my $dir = test_dir();
mkdir "$dir/run";
mkdir "$dir/logs";                              # the tenant may write here
chown $ua, $ga, "$dir/logs";
my $target = write_file("$dir/root-file", "KEEP\n", 0600);

sub conf_with_log {
    my ($log) = @_;
    my $text = <<EOC;
[global]
run_dir = $dir/run
error_log = $log
pid = $dir/spawn.pid

[p]
command = /usr/bin/php-cgi8.2
user = vf-alice
pm = static
pm.max_children = 1
EOC
    return write_file("$dir/pools.conf", $text);
}

sub as_alice {
    my ($code) = @_;
    my $kid = fork // die;
    if ($kid == 0) {
        POSIX::setgid($ga) or POSIX::_exit(2);
        $) = "$ga $ga";
        POSIX::setuid($ua) or POSIX::_exit(2);
        POSIX::_exit($code->() ? 0 : 3);
    }
    waitpid($kid, 0);
    return $? == 0;
}

sub slurp { open my $fh, '<', $_[0] or return ''; local $/; scalar <$fh> }

# --- at start -------------------------------------------------------------
ok(as_alice(sub { symlink $target, "$dir/logs/spawn.log" }),
   'the tenant plants a symlink where the log goes');
my $conf = conf_with_log("$dir/logs/spawn.log");
my $out = `timeout 10 '${\ spawn_bin()}' -F -c '$conf' 2>&1`;
isnt($? >> 8, 0, 'the spawner does not start');
like($out, qr/cannot open error_log \Q$dir\E\/logs\/spawn\.log: Too many levels of symbolic links/,
     '... and says why');
is(slurp($target), "KEEP\n", 'the symlink\'s target is untouched');
unlink "$dir/logs/spawn.log";

# --- at a reopen (SIGUSR1, after log rotation) ------------------------------
# (start_spawner's own output goes to the same file, from the same start.)
my $s = start_spawner(conf => $conf, dir => $dir, log => "$dir/logs/spawn.log");
ok($s->{ready}, 'the spawner starts with its log in the tenant\'s directory')
    or diag(slurp("$dir/logs/spawn.log"));
ok(as_alice(sub { rename("$dir/logs/spawn.log", "$dir/logs/spawn.log.1")
                  && symlink($target, "$dir/logs/spawn.log") }),
   'the tenant moves the log away and plants a symlink');
kill 'USR1', $s->{pid};
ok(wait_for(sub { slurp("$dir/logs/spawn.log.1") =~ /cannot reopen error_log/ }, 5),
   'SIGUSR1: the spawner refuses to follow it, in the old file')
    or diag(slurp("$dir/logs/spawn.log.1"));
is(slurp($target), "KEEP\n", 'the symlink\'s target is untouched');
is(stop_spawner($s), 0, 'graceful stop');
is(slurp($target), "KEEP\n", '... and still untouched');

# --- root's own symlinks -----------------------------------------------------
mkdir "$dir/rootlogs";
symlink "$dir/rootlogs/real.log", "$dir/rootlogs/spawn.log" or die;
$conf = conf_with_log("$dir/rootlogs/spawn.log");
$s = start_spawner(conf => $conf, dir => $dir, log => "$dir/rootlogs/real.log");
ok($s->{ready}, 'a symlink of root\'s in root\'s directory is followed')
    or diag(slurp("$dir/rootlogs/real.log"));
is(stop_spawner($s), 0, 'graceful stop');

$conf = conf_with_log('/dev/stderr');
$s = start_spawner(conf => $conf, dir => $dir, log => "$dir/stderr3.log");
ok($s->{ready}, 'error_log = /dev/stderr works')
    or diag(slurp("$dir/stderr3.log"));
is(stop_spawner($s), 0, 'graceful stop');
done_testing();
