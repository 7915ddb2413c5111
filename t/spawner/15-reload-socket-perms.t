#!/usr/bin/perl
# listen.owner/group/mode on a reload that changes a pool:
# - the permissions go to the socket the spawner bound, never through a
#   symlink: a pool user who owns the socket (listen.owner) in a sticky
#   directory, and so may replace it, swaps it for a symlink to a
#   root-owned 0600 file and gets nothing (the file stays root 0600) and
#   the log says the permissions could not be applied (a directory the
#   user could write is refused outright: t/spawner/26);
# - listen.owner/group/mode removed from the file: the socket goes back
#   to the spawner's ids (root:root) and the default mode 0660, as at a
#   fresh start.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();

ensure_user($_) for qw(vf-alice vf-bob);
my ($ua, $ub, $gb) = (uid_of('vf-alice'), uid_of('vf-bob'), gid_of('vf-bob'));
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/fast.php", "<?php echo \"fast\\n\";\n");
# Bob's socket lives in a sticky directory, where he may replace what he
# owns.
mkdir "$dir/bobdir";
chmod 01777, "$dir/bobdir";
my $psock = "$dir/bobdir/p.sock";
my $qsock = "$dir/run/q.sock";
# A root file bob would like to have.
my $target = write_file("$dir/root-secret", "root only\n", 0600);

sub pools_file {
    my (%o) = @_;
    my $q_listen = $o{q_listen} ? <<EOC : '';
listen.owner = vf-alice
listen.group = vf-bob
listen.mode = 0600
EOC
    return write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $dir/run
log_level = info

[t]
istemplate = 1
command = /usr/bin/php-cgi8.2
pm = ondemand
env[VF_TEST_POOL] = \$pool

[p]
template = t
user = vf-bob
listen = $psock
listen.owner = vf-bob
listen.mode = 0660
pm.max_children = $o{p_max}

[q]
template = t
user = vf-alice
$q_listen
EOC
}

sub perms {
    my @st = lstat $_[0] or return 'missing';
    return sprintf('%d:%d %o', $st[4], $st[5], $st[2] & 07777);
}

my $conf = pools_file(p_max => 1, q_listen => 1);
my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
is(perms($psock), "$ub:0 660", "p.sock: vf-bob:root 0660 at start");
is(perms($qsock), "$ua:$gb 600", 'q.sock: vf-alice:vf-bob 0600 at start');
ok(fcgi_request($qsock, "$dir/www/fast.php", timeout => 5)->{ok},
   'q serves');

# Bob swaps his pool's socket for a symlink to the root file.
my $kid = fork // die;
if ($kid == 0) {
    POSIX::setgid($gb) or POSIX::_exit(2);
    $) = "$gb $gb";
    POSIX::setuid($ub) or POSIX::_exit(2);
    symlink($target, "$dir/bobdir/tmp") or POSIX::_exit(3);
    rename("$dir/bobdir/tmp", $psock) or POSIX::_exit(4);
    POSIX::_exit(0);
}
waitpid($kid, 0);
is($?, 0, 'vf-bob replaced p.sock with a symlink to a root 0600 file');
ok(-l $psock, '... p.sock is now that symlink');

# One reload: p changed (pm.max_children), q loses its listen.* keys.
pools_file(p_max => 2, q_listen => 0);
kill 'HUP', $s->{pid};
ok(wait_for(sub { log_text($s) =~ /reloaded in \d+ ms: 0 pool\(s\) added, 2 changed/ }, 5),
   'reload: p and q changed') or diag log_text($s);
sleep 0.2;

subtest 'a symlink swapped in for the socket is not followed' => sub {
    is(perms($target), '0:0 600', 'the root file is still root:root 0600');
    like(log_text($s), qr/ERROR: \[pool p\] cannot \w+ \Q$psock\E: /,
         'the log says the permissions of p.sock could not be applied')
        or diag log_text($s);
};

subtest 'listen.owner/group/mode removed: back to the defaults' => sub {
    is(perms($qsock), '0:0 660',
       "q.sock: the spawner's ids (root:root) and the default mode 0660");
    ok(fcgi_request($qsock, "$dir/www/fast.php", timeout => 5)->{ok},
       'q serves on the same socket');
};

is(stop_spawner($s), 0, 'graceful stop');
is(perms($target), '0:0 600', 'the root file is still root:root 0600 after the stop');
ok(-e $target, '... and still there');
done_testing();
